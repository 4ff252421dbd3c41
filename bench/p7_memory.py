"""P7: memory of a real server after storing 10,000 modules and invoking 1,000 of them.

The modules are small and distinct (``sum(a, b) + C`` with a different constant ``C``
each, so every digest differs and every invoked module is compiled on its own).
Uploads and invocations go through /v1 from a pool of keep-alive connections. Then:

- the server's RSS (``VmRSS`` of ``/proc/<pid>/status``); goal <= 300 MB;
- the compiled-module cache, ``wess_cache_bytes{cache="compiled"}`` from /metrics,
  against its configured budget ``runner.cache_size`` (computed with Wess's own
  settings loader from the server's environment and flags); goal: within budget.

    .venv/bin/python bench/p7_memory.py [--modules 10000] [--invoke 1000] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import wasmtime
from figures import Row, emit, say
from servers import Client, Server, production_features, wess_server

from wess.config import load_settings

RSS_GOAL = 300 * 10**6
CONNECTIONS = 16
MB = 10**6
T = TypeVar("T")
WAT = (
    '(module (func (export "sum") (param i32 i32) (result i32)'
    " local.get 0 local.get 1 i32.add i32.const {c} i32.add))"
)


def modules(count: int) -> list[bytes]:
    return [bytes(wasmtime.wat2wasm(WAT.format(c=c))) for c in range(count)]


def in_parallel(server: Server, items: Sequence[T], work: Callable[[Client, T], str]) -> list[str]:
    """``work(client, item)`` for every item, over CONNECTIONS keep-alive connections."""
    local = threading.local()
    clients: list[Client] = []
    lock = threading.Lock()

    def run(item: T) -> str:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = server.client()
            with lock:
                clients.append(client)
        return work(client, item)

    try:
        with ThreadPoolExecutor(CONNECTIONS) as pool:
            return list(pool.map(run, items))
    finally:
        for client in clients:
            client.close()


def upload(client: Client, wasm: bytes) -> str:
    answer = client.request(
        "POST",
        "/v1/modules?function=sum",  # unnamed: every upload is a module of its own
        wasm,
        headers={"content-type": "application/wasm"},
    )
    if answer.status != 201:
        raise RuntimeError(f"upload answered {answer.status}: {answer.body[:300]!r}")
    module_id: str = answer.json()["id"]
    return module_id


def invoke(client: Client, job: tuple[str, int]) -> str:
    module_id, constant = job
    answer = client.post_json(f"/v1/modules/{module_id}/run", {"args": [1, 2]})
    if answer.status != 200 or answer.json().get("results") != [3 + constant]:
        raise RuntimeError(f"run of {module_id} answered {answer.status}: {answer.body[:300]!r}")
    return module_id


def metric(text: str, name: str, cache: str) -> float | None:
    found = re.search(rf'^{name}{{cache="{cache}"}} (\S+)$', text, re.MULTILINE)
    return None if found is None else float(found.group(1))


@contextlib.contextmanager
def cwd(path: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def configured_cache_budgets(server: Server) -> tuple[int, int]:
    """``runner.cache_size`` and ``reader.cache_size`` as the server resolved them."""
    with cwd(server.workdir):  # the server's working directory: same (absent) wess.toml
        settings = load_settings(env=server.env, flags=server.flags).settings
    runner, reader = settings.runner.cache_size.max_bytes, settings.reader.cache_size.max_bytes
    if runner is None or reader is None:
        raise SystemExit("P7 compares caches with byte budgets; this server counts entries")
    return runner, reader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=10_000)
    parser.add_argument("--invoke", type=int, default=1_000)
    parser.add_argument("--quick", action="store_true", help="fewer modules, to try the harness")
    options = parser.parse_args()
    if options.quick:
        options.modules, options.invoke = 1000, 100

    wasms = modules(options.modules)
    with wess_server() as server:
        baseline = server.rss_bytes()
        say(f"P7: uploading {options.modules} modules over {CONNECTIONS} connections")
        start = time.perf_counter()
        ids = in_parallel(server, wasms, upload)
        upload_s = time.perf_counter() - start
        stored_rss = server.rss_bytes()
        say(f"  {len(ids)} stored in {upload_s:.1f} s; RSS {stored_rss / MB:.0f} MB")
        step = max(1, len(ids) // options.invoke)
        chosen = [(ids[i], i) for i in range(0, len(ids), step)][: options.invoke]
        say(f"P7: invoking {len(chosen)} of them (every {step}th)")
        start = time.perf_counter()
        in_parallel(server, chosen, invoke)
        invoke_s = time.perf_counter() - start
        time.sleep(0.5)  # let gauges settle
        rss = server.rss_bytes()
        peak = server.peak_rss_bytes()
        client = server.client()
        text = client.request("GET", "/metrics").body.decode()
        client.close()
        features = production_features(server, ids[-1])
        compiled_budget, reader_budget = configured_cache_budgets(server)
        say(f"  done in {invoke_s:.1f} s; RSS {rss / MB:.0f} MB (peak {peak / MB:.0f} MB)")

    compiled = metric(text, "wess_cache_bytes", "compiled")
    compiled_entries = metric(text, "wess_cache_entries", "compiled")
    modules_cache = metric(text, "wess_cache_bytes", "modules")
    rows = [
        Row(
            measure=f"server RSS after {len(ids):,} stored, {len(chosen):,} invoked",
            unit="MB",
            wess=rss / MB,
            comparator="goal",
            comparator_value=RSS_GOAL / MB,
            ratio=rss / RSS_GOAL,
            goal=f"<= {RSS_GOAL // MB} MB",
            met=rss <= RSS_GOAL,
        ),
        Row(
            measure='compiled-module cache, wess_cache_bytes{cache="compiled"}',
            unit="MB",
            wess=None if compiled is None else compiled / MB,
            comparator="runner.cache_size",
            comparator_value=compiled_budget / MB,
            ratio=None if compiled is None else compiled / compiled_budget,
            goal="<= budget",
            met=None if compiled is None else compiled <= compiled_budget,
        ),
    ]
    info = [
        f"RSS: {baseline / MB:.0f} MB right after start-up, {stored_rss / MB:.0f} MB once "
        f"stored, {rss / MB:.0f} MB at the end, peak (VmHWM) {peak / MB:.0f} MB",
        f"compiled cache: {compiled_entries or 0:.0f} entries, "
        f"{(compiled or 0) / MB:.1f} MB of a {compiled_budget / MB:.0f} MB budget",
        f"module (Reader) cache: {(modules_cache or 0) / MB:.1f} MB of a "
        f"{reader_budget / MB:.0f} MB budget",
        f"{len(ids):,} uploads in {upload_s:.1f} s ({len(ids) / upload_s:.0f}/s), "
        f"{len(chosen):,} invocations, one per module, in {invoke_s:.1f} s "
        f"({len(chosen) / invoke_s:.0f}/s), "
        f"over {CONNECTIONS} connections",
        *(f"{name}: {'on' if f.on else 'OFF'}" for name, f in features.items()),
    ]
    if compiled is None:
        info.append('/metrics has no wess_cache_bytes{cache="compiled"}: cache not measured')
    emit(
        "P7",
        "Memory",
        rows,
        info=info,
        data={
            "rss_bytes": rss,
            "peak_rss_bytes": peak,
            "baseline_rss_bytes": baseline,
            "stored_rss_bytes": stored_rss,
            "compiled_cache_bytes": compiled,
            "compiled_cache_budget": compiled_budget,
        },
    )


if __name__ == "__main__":
    main()
