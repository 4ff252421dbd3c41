"""What the resilience mechanisms add to a run on the hot path: the request deadline and
the module breakers (``wess.workers.deadline``, ``wess.workers.breakers``).

A micro-benchmark, not one of the P1-P7 figures. ``ModuleService.run`` of ``sum(1, 2)``
on a module already in the Reader's cache and compiled (the inline lane runs it on the
event loop), in one event loop, CPU nanoseconds per run (``time.thread_time_ns``), best
of seven interleaved rounds:

- ``bare``: no deadlines, no module breakers (what a run cost before them);
- ``deadline + breakers``: both on, no ``Request-Timeout-Ms`` (the default for every
  request: one ``Deadline`` and two clock readings, one dict lookup per breaker call);
- ``with a header``: ``Request-Timeout-Ms`` shorter than the call's time limit, so each
  call's limits are cut (one ``Limits`` copy per run);

and the memory blocks each variant leaves allocated per run after warm-up (0: nothing is
kept per request), from ``sys.getallocatedblocks``.

    .venv/bin/python bench/resilience.py [--runs 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from collections.abc import Callable
from uuid import uuid4

from servers import sum_wasm

from wess.messages import CreateModule, ModuleContent
from wess.models import DEFAULT_NAMESPACE, digest_of
from wess.observability.metrics import Metrics
from wess.runtime import Limits, Runtime
from wess.security.audit import AuditKey
from wess.service import ModuleService
from wess.storage.memory import MemoryStore
from wess.workers.breakers import ModuleBreakers
from wess.workers.deadline import Deadlines
from wess.workers.reader import Reader
from wess.workers.runner import Runner
from wess.workers.writer import Writer

ROUNDS = 7
INLINE_FUEL = 100_000
"""runner.inline_fuel's default: sum runs on the event loop."""


async def measure(run: Callable[[], object], count: int) -> float:
    """CPU nanoseconds of this thread per run: on a shared machine, time spent waiting
    for a core is not the code's."""
    start = time.thread_time_ns()
    for _ in range(count):
        await run()  # type: ignore[misc]
    return (time.thread_time_ns() - start) / count


async def kept_blocks(run: Callable[[], object], count: int) -> float:
    """Memory blocks still allocated per run after ``count`` runs (garbage collected)."""
    gc.collect()
    before = sys.getallocatedblocks()
    for _ in range(count):
        await run()  # type: ignore[misc]
    gc.collect()
    return (sys.getallocatedblocks() - before) / count


async def main(runs: int) -> dict[str, object]:
    limits = Limits(timeout_ms=5000)
    store = MemoryStore()
    with Runtime(limits=limits) as runtime:
        metrics = Metrics()
        reader = Reader(store.modules, metrics=metrics)
        writer = Writer(store, metrics=metrics, audit_key=AuditKey(bytes(32)))
        breakers = ModuleBreakers(threshold=10, cooldown=30, metrics=metrics)
        plain = Runner(runtime, metrics=metrics, workers=2, inline_fuel=INLINE_FUEL)
        guarded = Runner(
            runtime, metrics=Metrics(), workers=2, inline_fuel=INLINE_FUEL, breakers=breakers
        )
        async with writer, plain, guarded:
            module = sum_wasm()
            prepared = await plain.prepare(module, namespace=DEFAULT_NAMESPACE)
            content = ModuleContent(
                name="sum",
                wasm=module,
                digest=digest_of(module),
                functions=prepared.analysis.functions,
            )
            module_id = uuid4()
            job = CreateModule(module_id=module_id, namespace=DEFAULT_NAMESPACE, content=content)
            await writer.submit(job)
            common = {"reader": reader, "writer": writer}
            bare = ModuleService(runner=plain, max_module_size=1 << 20, max_args=10, **common)  # type: ignore[arg-type]
            timed = ModuleService(
                runner=guarded,
                max_module_size=1 << 20,
                max_args=10,
                deadlines=Deadlines(30_000, metrics=Metrics()),
                **common,  # type: ignore[arg-type]
            )
            args = [1, 2]
            variants: dict[str, Callable[[], object]] = {
                "bare": lambda: bare.run(module_id, namespace=None, function="sum", args=args),
                "deadline + breakers": lambda: timed.run(
                    module_id, namespace=None, function="sum", args=args
                ),
                "with a header": lambda: timed.run(
                    module_id, namespace=None, function="sum", args=args, timeout_ms=1000
                ),
            }
            for run in variants.values():  # warm: cached, compiled, label children made
                await measure(run, 1000)
            rounds: dict[str, list[float]] = {name: [] for name in variants}
            for _ in range(ROUNDS):
                for name, run in variants.items():
                    rounds[name].append(await measure(run, runs))
            blocks = {name: await kept_blocks(run, runs) for name, run in variants.items()}
    best = {name: min(times) for name, times in rounds.items()}
    return {
        "ns_per_run": {name: round(value) for name, value in best.items()},
        "overhead_ns": {
            name: round(value - best["bare"]) for name, value in best.items() if name != "bare"
        },
        "kept_blocks_per_run": {name: round(value, 3) for name, value in blocks.items()},
        "runs_per_round": runs,
        "rounds": ROUNDS,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20_000)
    result = asyncio.run(main(parser.parse_args().runs))
    print(json.dumps(result, indent=2))
