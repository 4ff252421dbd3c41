// A WASI command for Wess in AssemblyScript: stdin upper-cased to stdout.
//
//   stdin:  {"name": "ada"}
//   stdout: {"NAME": "ADA"}
//
// It logs through Wess's host API (wess:log@1) and reads its clock (wess:clock@1).
// Build with ./build.sh (npm's assemblyscript and @assemblyscript/wasi-shim).

// wess:log@1 log(level, ptr, len): 0 debug, 1 info, 2 warn, 3 error
@external("wess:log@1", "log")
declare function wessLog(level: i32, ptr: usize, len: i32): void;

// wess:clock@1 now_ms(): Unix time in milliseconds
@external("wess:clock@1", "now_ms")
declare function nowMs(): i64;

function log(level: i32, text: string): void {
  const bytes = String.UTF8.encode(text);
  wessLog(level, changetype<usize>(bytes), bytes.byteLength);
}

function readAll(): string {
  const chunks = new Array<ArrayBuffer>();
  let total = 0;
  while (true) {
    const chunk = new ArrayBuffer(4096);
    const read = process.stdin.read(chunk);
    if (read <= 0) break;
    chunks.push(chunk.slice(0, read));
    total += read;
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (let i = 0; i < chunks.length; i++) {
    all.set(Uint8Array.wrap(chunks[i]), at);
    at += chunks[i].byteLength;
  }
  return String.UTF8.decode(all.buffer);
}

const started = nowMs();
const input = readAll();
log(1, "read " + input.length.toString() + " characters");
process.stdout.write(input.toUpperCase());
log(0, "took " + (nowMs() - started).toString() + " ms");
