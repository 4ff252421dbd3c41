"""P3 under writes: run latency while uploads commit, vs run latency alone.

Before the pipelined Writer, every group commit held the GIL through its fsync
(rocksdict's synced write): the whole server paused for ~0.5 ms per commit, and runs
that hit the caches waited with it. This measures it: one ``wess serve`` with every
production feature on, runs (``POST /v1/modules/<id>/run``, as P3: ``wrk -t1 -c8``)
alone, then the same runs while a second wrk uploads ``examples/sum.wasm`` over 16
connections (``POST /v1/modules``), alternating rounds; median p99 of each.

``--baseline-src DIR`` also starts a server from another source tree (``DIR/src`` put
first on ``PYTHONPATH``, e.g. ``git archive <commit> | tar -x -C DIR``) and measures it
the same way in the same run, so the two can be compared side by side.

    .venv/bin/python bench/mixed_latency.py [--rounds 3] [--duration 5] [--quick]
                                            [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import wrk
from figures import Row, emit, median, say
from servers import Server, production_features, sum_wasm, wess_server

WRITERS = 16
RUN_BODY = {"function": "sum", "args": [1, 2]}


@dataclass
class Side:
    name: str
    server: Server
    run: wrk.Target
    create: wrk.Target


@contextlib.contextmanager
def side(name: str, src: Path | None) -> Iterator[Side]:
    env = None if src is None else {"PYTHONPATH": str(src / "src")}
    with wess_server(env=env) as server:
        module_id = server.upload(sum_wasm(), name="adder", function="sum")
        production_features(server, module_id)
        json_type = {"Content-Type": "application/json", **server.auth_headers}
        run = wrk.Target(
            f"{name}-run",
            f"{server.url}/v1/modules/{module_id}/run",
            json.dumps(RUN_BODY).encode(),
            json_type,
        )
        create = wrk.Target(
            f"{name}-create",
            f"{server.url}/v1/modules?name=bench&function=sum",
            sum_wasm(),
            {"Content-Type": "application/wasm", **server.auth_headers},
        )
        yield Side(name, server, run, create)


def runs_while_writing(s: Side, duration: float) -> tuple[wrk.WrkResult, wrk.WrkResult]:
    """Runs for ``duration`` while uploads go on for a little longer on both ends."""
    writes: list[wrk.WrkResult] = []
    writer = threading.Thread(
        target=lambda: writes.append(
            wrk.run(s.create, connections=WRITERS, duration_s=duration + 2, timeout_s=10)
        )
    )
    writer.start()
    threading.Event().wait(1.0)  # the uploads are under way before the runs start
    runs = wrk.run(s.run, connections=8, duration_s=duration)
    writer.join()
    return runs, writes[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--baseline-src", type=Path, default=None)
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    if options.quick:
        options.rounds, options.duration = 1, 2.0

    names = ["wess"] + (["baseline"] if options.baseline_src else [])
    alone: dict[str, list[float]] = {n: [] for n in names}
    mixed: dict[str, list[float]] = {n: [] for n in names}
    creates: dict[str, list[float]] = {n: [] for n in names}
    with contextlib.ExitStack() as stack:
        sides = [stack.enter_context(side("wess", None))]
        if options.baseline_src:
            sides.append(stack.enter_context(side("baseline", options.baseline_src)))
        for s in sides:
            wrk.run(s.run, connections=8, duration_s=1.0)  # warm up
        for number in range(options.rounds):
            order = sides if number % 2 == 0 else list(reversed(sides))
            for s in order:
                quiet = wrk.run(s.run, connections=8, duration_s=options.duration)
                busy, writes = runs_while_writing(s, options.duration)
                alone[s.name].append(quiet.percentile_ms(99.0))
                mixed[s.name].append(busy.percentile_ms(99.0))
                creates[s.name].append(writes.requests_per_s)
                say(
                    f"  round {number + 1} {s.name:8s}: run p99 alone "
                    f"{quiet.percentile_ms(99.0):6.2f} ms, with uploads "
                    f"{busy.percentile_ms(99.0):6.2f} ms ({writes.requests_per_s:.0f} creates/s, "
                    f"{busy.requests_per_s:.0f} runs/s)"
                )
    rows = []
    info = []
    for name in names:
        quiet_p99, busy_p99 = median(alone[name]), median(mixed[name])
        rows.append(
            Row(
                measure=f"run p99 with uploads ({WRITERS} connections) vs alone, wrk -t1 -c8",
                unit="ms",
                wess=busy_p99,
                comparator=f"{name}: runs alone",
                comparator_value=quiet_p99,
                ratio=busy_p99 / quiet_p99,
                goal="information",
                met=None,
            )
        )
        info.append(
            f"{name}: p99 alone per round "
            + ", ".join(f"{v:.2f}" for v in alone[name])
            + "; with uploads "
            + ", ".join(f"{v:.2f}" for v in mixed[name])
            + "; creates/s "
            + ", ".join(f"{v:.0f}" for v in creates[name])
        )
    emit(
        "P3w",
        "Run latency under writes",
        rows,
        info=info,
        data={"alone": alone, "mixed": mixed, "creates": creates},
    )


if __name__ == "__main__":
    main()
