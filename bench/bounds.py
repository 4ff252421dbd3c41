"""Issue 8's catalogue and JSON-body attacks against a real ``wess serve``, measured.

Not part of ``make bench`` (no figure of docs/PERFORMANCE.md): run it by hand, against
this tree or another one, to see what one tenant's requests make the server hold.

    .venv/bin/python bench/bounds.py [--src DIR] [--modules 40]

``--src`` puts another tree's ``src`` first on the server's PYTHONPATH (the tree before
a change, e.g. from ``git archive``), so the same attacks compare two builds. Reported:

- catalogues: 40 modules of one function exported under 9,000 names of 200 characters
  (1.9 MB each), then, as a build with export caps refuses those, 40 at the default caps
  (1,000 names of 256 characters); for each, the uploads' statuses, one
  ``GET /v1/modules?limit=1000`` (time, bytes), four at once (the server's RSS before
  and its peak), and the longest ``/healthz`` answer while they ran;
- JSON: an 8 MiB upload body of 700,000 unknown keys (status, answer bytes, time, and
  the longest ``/healthz`` answer meanwhile).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import wasmtime

RATE = "1000000/second"
READY_S = 60.0


class Server:
    """``python -m wess serve`` on a free port, its own data dir; stopped with SIGTERM."""

    def __init__(self, src: Path | None, workdir: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WESS_")}
        env.update(
            WESS_LOGGING_FORMAT="json",
            WESS_RATELIMIT_PER_IP=RATE,
            WESS_RATELIMIT_PER_KEY=RATE,
        )
        if src is not None:
            env["PYTHONPATH"] = str(src)
        self.log = workdir / "wess.log"
        self.data = workdir / "data"
        with self.log.open("wb") as log:
            command = [sys.executable, "-m", "wess", "serve", "--port", "0"]
            self.process = subprocess.Popen(
                [*command, "--data-dir", str(self.data)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=workdir,
            )
        try:
            self.port = self._wait_port()
        except BaseException:
            self.process.kill()  # never leave a server behind
            raise
        self.token = (self.data / "admin.key").read_text().strip()

    def _wait_port(self) -> int:
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            for line in self.log.read_text(errors="replace").splitlines():
                if '"wess serving"' in line:
                    port: int = json.loads(line)["port"]
                    if request(port, "GET", "/readyz")[0] == 200:
                        return port
            if self.process.poll() is not None:
                raise RuntimeError(self.log.read_text(errors="replace"))
            time.sleep(0.1)
        raise RuntimeError("wess did not start")

    def rss_mib(self, field: str = "VmRSS") -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        return 0.0

    def reset_peak(self) -> None:
        """Start VmHWM (the peak RSS) afresh from the current RSS (Linux clear_refs 5)."""
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes, float]:
    """(status, body, seconds) of one request on a fresh connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    start = time.perf_counter()
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    elapsed = time.perf_counter() - start
    connection.close()
    return response.status, data, elapsed


@contextmanager
def healthz_watch(port: int) -> Iterator[list[float]]:
    """The latencies of /healthz, asked in a loop on one connection while the block runs."""
    latencies: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        while not stop.is_set():
            start = time.perf_counter()
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            latencies.append(time.perf_counter() - start)
            time.sleep(0.005)
        connection.close()

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    time.sleep(0.2)
    try:
        yield latencies
    finally:
        stop.set()
        thread.join()


def exporting(count: int, length: int) -> bytes:
    """One function exported under ``count`` names of ``length`` characters."""
    names = " ".join(f'(export "{index:08d}{"n" * (length - 8)}")' for index in range(count))
    return bytes(wasmtime.wat2wasm(f"(module (func {names} (result i32) i32.const 1))"))


def catalogue_attack(server: Server, *, modules: int, count: int, length: int) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {server.token}"}
    wasm = exporting(count, length)
    statuses: dict[int, int] = {}
    for _ in range(modules):
        status, _, _ = request(
            server.port,
            "POST",
            "/v1/modules",
            wasm,
            {**auth, "Content-Type": "application/wasm"},
        )
        statuses[status] = statuses.get(status, 0) + 1
    result: dict[str, Any] = {"module_bytes": len(wasm), "uploads": statuses}
    status, body, seconds = request(server.port, "GET", "/v1/modules?limit=1000", None, auth)
    page = json.loads(body)
    result["listing"] = {
        "status": status,
        "bytes": len(body),
        "seconds": round(seconds, 3),
        "items": len(page["items"]),
        "next_cursor": page["next_cursor"] is not None,
    }
    if page["items"]:
        module_id = page["items"][0]["id"]
        status, body, seconds = request(server.port, "GET", f"/v1/modules/{module_id}", None, auth)
        result["resource"] = {"status": status, "bytes": len(body), "seconds": round(seconds, 3)}
    rss_before = server.rss_mib()
    server.reset_peak()
    with healthz_watch(server.port) as latencies:
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            sizes = list(
                pool.map(
                    lambda _: len(
                        request(server.port, "GET", "/v1/modules?limit=1000", None, auth)[1]
                    ),
                    range(4),
                )
            )
        elapsed = time.perf_counter() - start
    result["four_listings"] = {
        "seconds": round(elapsed, 3),
        "bytes_each": sizes[0],
        "rss_before_mib": round(rss_before, 1),
        "rss_peak_mib": round(server.rss_mib("VmHWM"), 1),
        "healthz_max_ms": round(max(latencies) * 1000, 1),
        "healthz_probes": len(latencies),
    }
    return result


def json_attack(server: Server, *, modules: int) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    keys = ",".join(f'"k{index:06d}":0' for index in range(700_000))
    body = ('{"content":"",' + keys + "}").encode()
    with healthz_watch(server.port) as latencies:
        status, answer, seconds = request(server.port, "POST", "/v1/modules", body, auth)
    return {
        "body_mib": round(len(body) / (1 << 20), 2),
        "status": status,
        "answer_bytes": len(answer),
        "seconds": round(seconds, 3),
        "healthz_max_ms": round(max(latencies) * 1000, 1),
        "detail": json.loads(answer).get("detail", "")[:160],
    }


ATTACKS: dict[str, Callable[..., dict[str, Any]]] = {
    "catalogue_9000x200": partial(catalogue_attack, count=9000, length=200),
    "catalogue_1000x256": partial(catalogue_attack, count=1000, length=256),
    "json_700k_keys": json_attack,
}


def measured(src: Path | None, attack: Callable[[Server], dict[str, Any]]) -> dict[str, Any]:
    """``attack`` against a fresh server of ``src``."""
    with tempfile.TemporaryDirectory(prefix="wess-bounds-") as workdir:
        server = Server(src, Path(workdir))
        try:
            return attack(server)
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=None, help="another tree's src directory")
    parser.add_argument("--modules", type=int, default=40)
    parser.add_argument("--only", choices=sorted(ATTACKS), help="one attack alone")
    options = parser.parse_args()
    report = {
        name: measured(options.src, partial(attack, modules=options.modules))
        for name, attack in ATTACKS.items()
        if options.only in (None, name)
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
