"""P9: the shared store: PostgreSQL vs the embedded RocksDB, and how soon nodes agree.

1. Runs: two one-process servers side by side, one on RocksDB (the default), one on the
   machine's PostgreSQL (a fresh schema), loaded with P2's requests in alternating
   rounds. Runs hit the caches, so the goal is PostgreSQL >= 0.95 x embedded.
2. Creates: ``POST /v1/modules`` of examples/sum.wasm with wrk on each (information:
   a create is a synced transaction on either store).
3. Coherence delay: three nodes on one PostgreSQL schema; a module is replaced on node
   A again and again (a different constant each time), and after each acknowledgement
   nodes B and C are asked to run it until they answer the new result. The delay from
   A's answer to the first new answer on B and on C: p50, p99 and the most, against
   the 1 s bound of docs/scaling.md.

    .venv/bin/python bench/p9_shared_store.py [--rounds 3] [--duration 10] [--updates 200]
                                              [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import postgres
import wasmtime
import wrk
from figures import Row, emit, median, ratio, say
from servers import Server, sum_wasm, wess_server

RUN_GOAL = 0.95
BOUND_MS = 1000.0
WARM_UP_S = 2.0
RUN_BODY = {"function": "sum", "args": [1, 2]}
WAT = (
    '(module (func (export "sum") (param i32 i32) (result i32)'
    " local.get 0 local.get 1 i32.add i32.const {c} i32.add))"
)
GIVE_UP_S = 30.0


def run_target(name: str, server: Server) -> wrk.Target:
    module_id = server.upload(sum_wasm(), name=f"p9-{name}", function="sum")
    return wrk.Target(
        name,
        f"{server.url}/v1/modules/{module_id}/run",
        json.dumps(RUN_BODY).encode(),
        {"Content-Type": "application/json", **server.auth_headers},
    )


def create_target(name: str, server: Server) -> wrk.Target:
    return wrk.Target(
        name,
        f"{server.url}/v1/modules?function=sum",
        sum_wasm(),
        {"Content-Type": "application/wasm", **server.auth_headers},
    )


@contextlib.contextmanager
def three_nodes(url: str) -> Iterator[list[Server]]:
    """Nodes a, b, c on ``url``, sharing a server secret; b and c use a's admin key."""
    with tempfile.TemporaryDirectory(prefix="wess-bench-secret-") as scratch:
        secret = str(Path(scratch) / "server.secret")
        with contextlib.ExitStack() as stack:
            nodes = []
            for letter in "abc":
                env = {
                    "WESS_DB_URL": url,
                    "WESS_SERVER_WORKERS": "1",
                    "WESS_SECURITY_SECRET_FILE": secret,
                    "WESS_SERVER_NODE_ID": f"node-{letter}",
                }
                nodes.append(stack.enter_context(wess_server(env=env)))
            for node in nodes[1:]:
                node.auth_headers = nodes[0].auth_headers
            yield nodes


def coherence_delays(nodes: list[Server], updates: int) -> list[float]:
    """Milliseconds from A's acknowledgement of an update to B's and C's first answer
    with the new result, for ``updates`` updates."""
    a, *others = nodes
    module_id = a.upload(bytes(wasmtime.wat2wasm(WAT.format(c=0))), name="p9-c", function="sum")
    writer = a.client()
    readers = [node.client() for node in others]
    delays: list[float] = []
    try:
        for number in range(1, updates + 1):
            wasm = bytes(wasmtime.wat2wasm(WAT.format(c=number)))
            answer = writer.request(
                "PUT",
                f"/v1/modules/{module_id}",
                wasm,
                headers={"content-type": "application/wasm"},
            )
            acknowledged = time.perf_counter()
            if answer.status != 200:
                raise RuntimeError(f"update answered {answer.status}: {answer.body[:300]!r}")
            waiting = dict(enumerate(readers))
            while waiting:
                for index, reader in list(waiting.items()):
                    ran = reader.post_json(f"/v1/modules/{module_id}/run", RUN_BODY)
                    if ran.status == 200 and ran.json().get("results") == [3 + number]:
                        delays.append((time.perf_counter() - acknowledged) * 1000)
                        del waiting[index]
                if time.perf_counter() - acknowledged > GIVE_UP_S:
                    raise RuntimeError(f"update {number} not seen within {GIVE_UP_S:g} s")
    finally:
        writer.close()
        for reader in readers:
            reader.close()
    return delays


def percentile(values: list[float], wanted: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(wanted / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--create-duration", type=float, default=5.0)
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="short runs, to try the harness")
    options = parser.parse_args()
    if options.quick:
        options.rounds, options.duration, options.create_duration = 1, 2.0, 1.0
        options.updates = 20

    with (
        postgres.fresh_schema("bench_p9") as url,
        wess_server() as embedded,
        wess_server(env={"WESS_DB_URL": url, "WESS_SERVER_WORKERS": "1"}) as shared,
    ):
        runs = [run_target("rocksdb", embedded), run_target("postgresql", shared)]
        say("P9: warming up")
        for each in runs:
            wrk.run(each, connections=options.connections, duration_s=WARM_UP_S)
        say(f"P9: runs, wrk -t1 -c{options.connections} -d{options.duration:g}s, alternating")
        run_rounds = wrk.alternate(
            runs,
            rounds=options.rounds,
            connections=options.connections,
            duration_s=options.duration,
        )
        say(f"P9: creates, wrk -t1 -c{options.connections} -d{options.create_duration:g}s")
        creates = wrk.alternate(
            [create_target("rocksdb", embedded), create_target("postgresql", shared)],
            rounds=1,
            connections=options.connections,
            duration_s=options.create_duration,
        )
    say(f"P9: coherence delay over three nodes, {options.updates} updates")
    with postgres.fresh_schema("bench_p9_nodes") as url, three_nodes(url) as nodes:
        delays = coherence_delays(nodes, options.updates)

    shared_rate = median(r.requests_per_s for r in run_rounds["postgresql"])
    embedded_rate = median(r.requests_per_s for r in run_rounds["rocksdb"])
    share = ratio(shared_rate, embedded_rate)
    bad = sum(r.bad_status + r.socket_errors for rs in run_rounds.values() for r in rs)
    create_rates = {name: results[0].requests_per_s for name, results in creates.items()}
    create_bad = sum(r.bad_status + r.socket_errors for rs in creates.values() for r in rs)
    p50, p99, most = percentile(delays, 50), percentile(delays, 99), max(delays)
    caveats = []
    if bad:
        caveats.append(f"{bad} run requests answered with an error status or a socket error")
    if create_bad:
        caveats.append(f"{create_bad} creates answered with an error status or a socket error")
    info = [
        f"{name} run req/s per round: "
        + ", ".join(f"{r.requests_per_s:.0f}" for r in run_rounds[name])
        for name in ("rocksdb", "postgresql")
    ]
    info.append(
        f"creates/s (information), POST /v1/modules of examples/sum.wasm, wrk -t1 "
        f"-c{options.connections} -d{options.create_duration:g}s: "
        f"RocksDB {create_rates['rocksdb']:.0f}, PostgreSQL {create_rates['postgresql']:.0f} "
        f"({create_rates['postgresql'] / create_rates['rocksdb']:.2f} x)"
    )
    info.append(
        f"coherence delay over {len(delays)} observations ({options.updates} updates on "
        f"node A, each awaited on B and C): p50 {p50:.1f} ms, p99 {p99:.1f} ms, most "
        f"{most:.1f} ms, mean {statistics.fmean(delays):.1f} ms"
    )
    emit(
        "P9",
        "Shared store",
        [
            Row(
                measure=f"run requests/s on PostgreSQL, wrk -t1 -c{options.connections} "
                f"-d{options.duration:g}s",
                unit="req/s",
                wess=shared_rate,
                comparator="embedded RocksDB",
                comparator_value=embedded_rate,
                ratio=share,
                goal=f">= {RUN_GOAL:g} x embedded",
                met=share is not None and share >= RUN_GOAL and not bad,
            ),
            Row(
                measure="coherence delay p99, three nodes (update on A, new result on B, C)",
                unit="ms",
                wess=p99,
                comparator="the documented bound",
                comparator_value=BOUND_MS,
                ratio=ratio(p99, BOUND_MS),
                goal="every observation <= 1.0 x the bound",
                met=most <= BOUND_MS,
            ),
        ],
        info=info,
        caveats=caveats,
        data={
            "runs": {n: [r.as_data() for r in rs] for n, rs in run_rounds.items()},
            "creates_per_s": create_rates,
            "coherence_ms": {"p50": p50, "p99": p99, "max": most, "samples": delays},
            "plot": {
                "kind": "histogram",
                "title": "Coherence delay: A acknowledges an update, B and C serve it",
                "xlabel": "milliseconds",
                "ylabel": "observations",
                "series": {"B and C": delays},
            },
        },
    )


if __name__ == "__main__":
    main()
