"""P4: cold start. The first invoke of a ~1.4 MB module after a restart vs compiling it.

Deterministic ~1.4 MB modules (200 functions shaped like compiled C: locals, loops,
branches, loads, stores and calls) are uploaded to a real ``wess serve`` (temporary
data dir, free loopback port, default settings). Then, once per round, the server
stops (SIGTERM) and starts again, and the first ``POST /v1/modules/{id}/run`` after it
is ready is timed over HTTP, each round on a module never invoked before (so the
start-up warm-up has nothing to load and the run takes the stored-artifact path).
The compile time is the median of in-process compiles of the same module by a fresh
``wess.runtime.Runtime`` with the server's engine configuration (``Runtime.load``:
validate, analyse, rewrite, compile, link; what a miss without an artifact costs).
Goal (P4 in docs/PERFORMANCE.md): first_invoke_ms <= 0.05 x compile_ms.

    .venv/bin/python bench/p4_cold_start.py [--rounds 3] [--compiles 3]

Progress goes to stderr; the last line of stdout is the JSON result.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import wasmtime

from wess.config import load_settings
from wess.runtime import Runtime
from wess.server import runtime_config

GOAL = 0.05
FUNCTIONS = 200
STATEMENTS = 200
READY_TIMEOUT_S = 60.0
SETTLE_S = 1.0
"""Pause after readiness so start-up work (compile worker spawn) is not measured."""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the module ---------------------------------------------------------------------------------


def function_wat(index: int, seed: int) -> str:
    """One function: eight locals, nested loops and branches, memory traffic and calls."""
    lines = [
        f"  (func $f{index} (param $a i32) (param $b i32) (result i32)",
        "    (local $x i32) (local $y i32) (local $z i64) (local $w f64) (local $i i32)",
    ]
    for s in range(STATEMENTS):
        k = (index * 7919 + s * 104729 + seed * 31337) % 65521
        kind = s % 4
        if kind == 0:
            lines.append(
                f"    (local.set $x (i32.add (i32.mul (local.get $a) (i32.const {k})) "
                f"(i32.rotl (local.get $b) (i32.const {k % 31}))))"
            )
            lines.append(
                f"    (i32.store offset={k % 1024} (i32.and (local.get $x) (i32.const 0xfffc)) "
                "(i32.xor (local.get $x) (local.get $y)))"
            )
        elif kind == 1:
            lines += [
                "    (local.set $i (i32.const 0))",
                f"    (block $done{s} (loop $top{s}",
                f"      (br_if $done{s} (i32.ge_u (local.get $i) "
                "(i32.and (local.get $b) (i32.const 15))))",
                "      (local.set $z (i64.add (local.get $z) (i64.extend_i32_u "
                f"(i32.load offset={k % 512} (i32.and (local.get $i) (i32.const 0xff0))))))",
                "      (local.set $i (i32.add (local.get $i) (i32.const 1)))",
                f"      (br $top{s})))",
            ]
        elif kind == 2:
            lines += [
                f"    (if (i32.lt_s (local.get $x) (i32.const {k}))",
                "      (then (local.set $w (f64.add (local.get $w) "
                "(f64.convert_i32_s (local.get $y)))) "
                "(local.set $y (i32.sub (local.get $y) (local.get $a))))",
                "      (else (local.set $y (i32.wrap_i64 "
                f"(i64.shr_u (local.get $z) (i64.const {k % 63}))))))",
            ]
        elif index > 0:
            callee = (index * 31 + s) % index
            lines.append(
                f"    (local.set $a (i32.add (local.get $a) "
                f"(call $f{callee} (local.get $y) (i32.const {k}))))"
            )
        else:
            lines.append(f"    (local.set $a (i32.add (local.get $a) (i32.const {k})))")
    lines.append(
        "    (i32.add (i32.add (local.get $x) (local.get $y)) "
        "(i32.add (local.get $a) (i32.trunc_sat_f64_s (local.get $w))))"
    )
    lines.append("  )")
    return "\n".join(lines)


def make_module(seed: int) -> bytes:
    """A ~1.4 MB module exporting ``run(i32) -> i32``; ``seed`` varies its constants only."""
    parts = ["(module", '  (memory (export "memory") 2)']
    parts += [function_wat(index, seed) for index in range(FUNCTIONS)]
    parts.append(
        '  (func (export "run") (param i32) (result i32) (call $f0 (local.get 0) (i32.const 1)))'
    )
    parts.append(")")
    return bytes(wasmtime.wat2wasm("\n".join(parts)))


# -- the server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    """``wess serve`` on a free port over ``data_dir``, default settings, logging to a file."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.data_dir = data_dir
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WESS_")}
        env["WESS_LOGGING_FORMAT"] = "json"
        command = [sys.executable, "-m", "wess", "serve", "--port", str(self.port)]
        command += ["--data-dir", str(self.data_dir)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"wess exited with {self.process.returncode}; see {self.log}")
            try:
                ready = httpx.get(f"{self.url}/readyz", timeout=1.0)
                warmup = ready.json().get("warmup", {"state": "done"})
                if ready.status_code == 200 and warmup["state"] == "done":
                    time.sleep(SETTLE_S)
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise SystemExit(f"wess was not ready within {READY_TIMEOUT_S:g} s; see {self.log}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def headers(self) -> dict[str, str]:
        """The admin key's bearer header once Wess has written one, else nothing."""
        key = self.data_dir / "admin.key"
        return {"authorization": f"Bearer {key.read_text().strip()}"} if key.exists() else {}


# -- the figure ---------------------------------------------------------------------------------


def upload_all(server: Server, modules: list[bytes]) -> list[str]:
    ids = []
    with httpx.Client(base_url=server.url, headers=server.headers(), timeout=120) as client:
        for module in modules:
            response = client.post(
                "/v1/modules", content=module, headers={"content-type": "application/wasm"}
            )
            if response.status_code != 201:
                raise SystemExit(f"upload failed: {response.status_code} {response.text}")
            ids.append(response.json()["id"])
    return ids


def first_invoke_ms(server: Server, module_id: str) -> float:
    """One POST .../run on a fresh connection, timed from connect to the last byte."""
    with httpx.Client(base_url=server.url, headers=server.headers(), timeout=120) as client:
        start = time.perf_counter()
        response = client.post(f"/v1/modules/{module_id}/run", json={"args": [7]})
        elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise SystemExit(f"run failed: {response.status_code} {response.text}")
    return elapsed * 1000


def compile_ms(module: bytes, times: int) -> float:
    """Median of in-process compiles by fresh Runtimes with the server's engine config."""
    config = runtime_config(load_settings(env={}).settings)
    samples = []
    for _ in range(times):
        with Runtime(config=config) as runtime:
            start = time.perf_counter()
            runtime.load(module)
            samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="restarts, one first invoke each")
    parser.add_argument("--compiles", type=int, default=3, help="in-process compiles timed")
    options = parser.parse_args()

    modules = [make_module(seed) for seed in range(options.rounds)]
    say(f"P4: {options.rounds} modules of {len(modules[0]):,} bytes")
    with tempfile.TemporaryDirectory(prefix="wess-p4-") as scratch:
        data_dir, log = Path(scratch) / "data", Path(scratch) / "wess.log"
        server = Server(data_dir, log).start()
        try:
            ids = upload_all(server, modules)
        finally:
            server.stop()
        firsts = []
        for round_, module_id in enumerate(ids, 1):
            server = Server(data_dir, log).start()
            try:
                firsts.append(first_invoke_ms(server, module_id))
            finally:
                server.stop()
            say(f"  round {round_}: first invoke after restart {firsts[-1]:.1f} ms")
    compiled = compile_ms(modules[0], options.compiles)
    first = statistics.median(firsts)
    say(f"  in-process compile (median of {options.compiles}): {compiled:.1f} ms")
    result = {
        "figure": "P4",
        "first_invoke_ms": round(first, 3),
        "compile_ms": round(compiled, 3),
        "ratio": round(first / compiled, 4),
        "goal": GOAL,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
