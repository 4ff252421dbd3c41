/* A WASI command for Wess: reads a JSON object on stdin, answers JSON on stdout.
 *
 *   stdin:  {"name": "Ada"}
 *   stdout: {"greeting": "Hello, Ada!", "bytes_read": 15}
 *
 * It also logs through Wess's host API (wess:log@1), which the caller sees with
 * "logs": true. Build with ./build.sh (clang targeting wasm32-wasi, wasi-libc).
 */
#include <stdio.h>
#include <string.h>

/* wess:log@1 log(level, ptr, len): 0 debug, 1 info, 2 warn, 3 error */
__attribute__((import_module("wess:log@1"), import_name("log")))
void wess_log(int level, const char *text, int length);

static void log_info(const char *text) { wess_log(1, text, (int)strlen(text)); }

/* The string value of "name" in a flat JSON object, copied into out (no escapes). */
static int find_name(const char *json, char *out, size_t size) {
    const char *key = strstr(json, "\"name\"");
    if (!key) return 0;
    const char *colon = strchr(key + 6, ':');
    if (!colon) return 0;
    const char *start = strchr(colon, '"');
    if (!start) return 0;
    start++;
    const char *end = strchr(start, '"');
    if (!end || (size_t)(end - start) >= size) return 0;
    memcpy(out, start, (size_t)(end - start));
    out[end - start] = '\0';
    return 1;
}

int main(void) {
    static char input[65536];
    size_t length = fread(input, 1, sizeof input - 1, stdin);
    input[length] = '\0';
    log_info("read the request");

    char name[256];
    if (!find_name(input, name, sizeof name)) {
        fprintf(stderr, "expected a JSON object with a \"name\" string\n");
        return 2;
    }
    printf("{\"greeting\": \"Hello, %s!\", \"bytes_read\": %zu}\n", name, length);
    log_info("answered");
    return 0;
}
