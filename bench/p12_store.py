"""P12: a store of 100,000 modules: memory, listing and run latency, start-up.

One data directory, served by ``wess serve`` (every production feature on), grown in
two steps:

1. the server starts once on an empty directory (its secret and admin key), stops;
   1,000 modules are stored; the server starts again: time to ready (``/readyz``
   answers 200, measured from launching the process), listing p99 (``GET
   /v1/modules?limit=100`` from a cursor in the middle of the store) and run p99
   (``POST /v1/modules/<id>/run``), ``wrk -t1 -c4``;
2. it stops; 99,000 more are stored (100,000 in all); it starts again: the same three
   figures, then 10,000 distinct modules are invoked once each over 16 keep-alive
   connections (each compiles on its first call) and the server's RSS is read.

The modules are stored through the fast path, documented here: Wess's own ``Writer``
over ``RocksStore`` in this process, between two runs of the server (the same code a
``POST /v1/modules`` ends in, without HTTP and without an actor, so no audit entries).
Each is ``examples/sum.wasm`` with a custom section holding its number, so every digest
differs and every invoked module is compiled on its own.

Goals: RSS <= 300 MB; listing p99 and run p99 at 100,000 <= 1.5 x the same at 1,000;
start-up to ready <= 2 s.

    .venv/bin/python bench/p12_store.py [--modules 100000] [--invoke 10000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path

import uvloop
import wrk
from figures import Row, emit, say
from p7_memory import in_parallel
from servers import Client, Server, production_features, sum_wasm, wess_server

from wess.messages import CreateModule, ModuleContent
from wess.models import DEFAULT_NAMESPACE, FunctionSignature, ValueType, digest_of
from wess.observability.logging import configure_logging
from wess.observability.metrics import Metrics
from wess.security.audit import AuditKey
from wess.storage.rocks import RocksStore
from wess.workers.reader import encode_cursor
from wess.workers.writer import Writer

RSS_GOAL = 300 * 10**6
RATIO_GOAL = 1.5
START_GOAL_S = 2.0
SMALL = 1_000
PRODUCERS = 256
MB = 10**6
SUM = FunctionSignature("sum", (ValueType.I32, ValueType.I32), (ValueType.I32,))
UNUSED_AUDIT_KEY = AuditKey(bytes(32))  # no job names an actor: no entry is written


def numbered(base: bytes, number: int) -> bytes:
    """``base`` with a custom section ``n`` holding ``number``: valid, distinct wasm."""
    payload = b"\x01n" + number.to_bytes(8, "big")
    return base + b"\x00" + bytes([len(payload)]) + payload


async def populate(data_dir: Path, first: int, count: int) -> list[uuid.UUID]:
    """Store modules ``first`` .. ``first + count - 1`` through the Writer; their ids."""
    base = sum_wasm()
    ids = [uuid.uuid4() for _ in range(count)]
    store = await RocksStore.open(data_dir)
    try:
        async with Writer(store, metrics=Metrics(), audit_key=UNUSED_AUDIT_KEY) as writer:
            cursor = iter(enumerate(ids))

            async def producer() -> None:
                for index, module_id in cursor:
                    wasm = numbered(base, first + index)
                    content = ModuleContent(
                        name=f"p12-{first + index}",
                        wasm=wasm,
                        digest=digest_of(wasm),
                        functions=(SUM,),
                        default_function="sum",
                    )
                    await writer.submit(
                        CreateModule(
                            module_id=module_id, namespace=DEFAULT_NAMESPACE, content=content
                        )
                    )

            await asyncio.gather(*(producer() for _ in range(PRODUCERS)))
    finally:
        await store.aclose()
    return ids


def ready_after(server: Server, launched: float) -> float:
    """Seconds from launching the process until ``/readyz`` answers 200."""
    client = Client(server.port)
    try:
        while True:
            if client.request("GET", "/readyz").status == 200:
                return time.perf_counter() - launched
            time.sleep(0.02)
    finally:
        client.close()


def cursor_of(module_id: uuid.UUID) -> str:
    """A listing cursor after ``module_id`` (what ``next_cursor`` holds)."""
    return encode_cursor(module_id)


def measure(server: Server, ids: list[uuid.UUID], seconds: float) -> tuple[float, float, str, str]:
    """Listing p99 and run p99 (ms), and the listing and run URLs used."""
    middle = sorted(ids, key=str)[len(ids) // 2]
    listing_url = f"{server.url}/v1/modules?limit=100&cursor={cursor_of(middle)}"
    probe = server.client()
    answer = probe.request("GET", listing_url[len(server.url) :])
    if answer.status != 200 or len(answer.json()["items"]) != 100:
        raise RuntimeError(f"listing answered {answer.status}: {answer.body[:300]!r}")
    run_path = f"/v1/modules/{ids[0]}/run"
    answer = probe.post_json(run_path, {"function": "sum", "args": [1, 2]})
    probe.close()
    if answer.status != 200 or answer.json().get("results") != [3]:
        raise RuntimeError(f"run answered {answer.status}: {answer.body[:300]!r}")
    listing = wrk.Target("list", listing_url, b"", dict(server.auth_headers), method="GET")
    run = wrk.Target(
        "run",
        f"{server.url}{run_path}",
        json.dumps({"function": "sum", "args": [1, 2]}).encode(),
        {"Content-Type": "application/json", **server.auth_headers},
    )
    wrk.run(listing, connections=4, duration_s=1.0)
    wrk.run(run, connections=4, duration_s=1.0)
    listed = wrk.run(listing, connections=4, duration_s=seconds)
    ran = wrk.run(run, connections=4, duration_s=seconds)
    say(
        f"  listing p99 {listed.percentile_ms(99.0):.2f} ms ({listed.requests_per_s:.0f}/s), "
        f"run p99 {ran.percentile_ms(99.0):.2f} ms ({ran.requests_per_s:.0f}/s)"
    )
    return listed.percentile_ms(99.0), ran.percentile_ms(99.0), listing_url, run_path


def invoke(client: Client, module_id: uuid.UUID) -> str:
    answer = client.post_json(f"/v1/modules/{module_id}/run", {"function": "sum", "args": [1, 2]})
    if answer.status != 200 or answer.json().get("results") != [3]:
        raise RuntimeError(f"run of {module_id} answered {answer.status}: {answer.body[:300]!r}")
    return str(module_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=100_000)
    parser.add_argument("--invoke", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--quick", action="store_true", help="short runs, to try the harness")
    options = parser.parse_args()
    if options.quick:
        options.modules, options.invoke, options.seconds = 10_000, 1_000, 2.0

    with tempfile.TemporaryDirectory(prefix="wess-bench-p12-") as scratch:
        data = Path(scratch) / "data"
        log = (Path(scratch) / "populate.log").open("w", encoding="utf-8")
        configure_logging(level="warning", format="json", stream=log)
        with wess_server(data_dir=data):
            say("P12: the data directory is set up (secret, admin key)")
        started = time.perf_counter()
        ids = uvloop.run(populate(data, 0, SMALL))
        say(f"P12: {SMALL:,} modules stored in {time.perf_counter() - started:.1f} s")
        launched = time.perf_counter()
        with wess_server(data_dir=data) as server:
            start_small = ready_after(server, launched)
            say(f"  ready {start_small:.2f} s after launch")
            features = production_features(server)
            list_small, run_small, _, _ = measure(server, ids, options.seconds)

        started = time.perf_counter()
        ids += uvloop.run(populate(data, SMALL, options.modules - SMALL))
        fill_s = time.perf_counter() - started
        say(f"P12: {options.modules:,} modules stored ({fill_s:.1f} s for the rest)")
        launched = time.perf_counter()
        with wess_server(data_dir=data) as server:
            start_large = ready_after(server, launched)
            rss_start = server.rss_bytes()
            say(f"  ready {start_large:.2f} s after launch, RSS {rss_start / MB:.0f} MB")
            list_large, run_large, _, _ = measure(server, ids, options.seconds)
            step = max(1, len(ids) // options.invoke)
            chosen = ids[::step][: options.invoke]
            started = time.perf_counter()
            in_parallel(server, chosen, invoke)
            invoke_s = time.perf_counter() - started
            rss = server.rss_bytes()
            peak = server.peak_rss_bytes()
            say(f"  {len(chosen):,} invoked in {invoke_s:.1f} s; RSS {rss / MB:.0f} MB")
            list_after, run_after, _, _ = measure(server, ids, options.seconds)

    list_ratio = list_large / list_small
    run_ratio = run_large / run_small
    big = f"{options.modules:,}"
    rows = [
        Row(
            measure=f"server RSS after {big} stored, {len(chosen):,} invoked",
            unit="MB",
            wess=rss / MB,
            comparator="goal",
            comparator_value=RSS_GOAL / MB,
            ratio=rss / RSS_GOAL,
            goal="<= 300 MB",
            met=rss <= RSS_GOAL,
        ),
        Row(
            measure=f"listing p99 (GET /v1/modules?limit=100) at {big} modules",
            unit="ms",
            wess=list_large,
            comparator=f"at {SMALL:,} modules",
            comparator_value=list_small,
            ratio=list_ratio,
            goal=f"<= {RATIO_GOAL:g} x",
            met=list_ratio <= RATIO_GOAL,
        ),
        Row(
            measure=f"run p99 at {big} modules",
            unit="ms",
            wess=run_large,
            comparator=f"at {SMALL:,} modules",
            comparator_value=run_small,
            ratio=run_ratio,
            goal=f"<= {RATIO_GOAL:g} x",
            met=run_ratio <= RATIO_GOAL,
        ),
        Row(
            measure=f"start-up to ready (/readyz 200) with {big} modules",
            unit="s",
            wess=start_large,
            comparator="goal",
            comparator_value=START_GOAL_S,
            ratio=start_large / START_GOAL_S,
            goal=f"<= {START_GOAL_S:g} s",
            met=start_large <= START_GOAL_S,
        ),
    ]
    info = [
        f"modules stored through the Writer in-process between server runs ({PRODUCERS} "
        "producers, no actor: no audit entries); each examples/sum.wasm plus a numbered "
        "custom section",
        f"start-up to ready: {start_small:.2f} s at {SMALL:,}, {start_large:.2f} s at {big} "
        "(from launching the process, Python's start included)",
        f"RSS: {rss_start / MB:.0f} MB when ready at {big}, {rss / MB:.0f} MB after "
        f"{len(chosen):,} invoked ({invoke_s:.1f} s), peak {peak / MB:.0f} MB",
        f"listing p99 ms: {list_small:.2f} at {SMALL:,}, {list_large:.2f} at {big}, "
        f"{list_after:.2f} after the invocations",
        f"run p99 ms: {run_small:.2f} at {SMALL:,}, {run_large:.2f} at {big}, "
        f"{run_after:.2f} after the invocations",
        "wrk -t1 -c4 -d" + f"{options.seconds:g}s per figure; listing from a cursor in the middle",
        *(f"{name}: {'on' if f.on else 'OFF'}" for name, f in features.items()),
    ]
    emit(
        "P12",
        "A store of 100,000 modules",
        rows,
        info=info,
        data={
            "start_s": [start_small, start_large],
            "listing_p99_ms": [list_small, list_large, list_after],
            "run_p99_ms": [run_small, run_large, run_after],
            "rss_bytes": rss,
            "fill_s": fill_s,
            "invoke_s": invoke_s,
            "plot": {
                "kind": "line",
                "title": "p99 latency vs modules stored",
                "xlabel": "modules stored",
                "ylabel": "p99 ms",
                "xscale": "log",
                "series": {
                    "listing (GET /v1/modules?limit=100)": [
                        [SMALL, list_small],
                        [options.modules, list_large],
                    ],
                    "run (sum)": [[SMALL, run_small], [options.modules, run_large]],
                },
            },
        },
    )


if __name__ == "__main__":
    main()
