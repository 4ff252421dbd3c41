"""P10: one WASI command call (stdin -> stdout echo) through wess.runtime, against the
documented wasmtime-py WASI path.

The guest is ``tests/fixtures/echo_command.wat``: ``_start`` copies stdin to stdout.
Wess runs it through the public embedding API (``Function.run_command``): a fresh
Store and instance per call with every limit applied, stdin served and stdout captured
by Wess's own ``fd_read``/``fd_write``. The comparator is what wasmtime-py documents
for WASI: a Linker with ``define_wasi``, a fresh ``WasiConfig`` per call whose
``stdin_file`` and ``stdout_file`` are files (written before, read after the call),
``linker.instantiate`` and ``_start``. Both run in this process in interleaved rounds;
the median of the rounds is reported. Goal: <= 0.5 x the comparator.

    .venv/bin/python bench/p10_wasi.py [--calls 2000] [--rounds 9] [--quick]

wasmtime's own WASI stdin leaves a panic in its internal runtime at interpreter exit
(why Wess serves stdin itself, ``wess.runtime.guestio``), so this script leaves with
``os._exit`` once its result line is printed and flushed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import wasmtime
from figures import REPO, Row, emit, interleaved_rounds, median, ratio

from wess.runtime import Runtime
from wess.runtime.command_io import CommandInput

GOAL = 0.5
PAYLOAD = b'{"name": "wess", "items": [1, 2, 3]}\n'


def echo_wasm() -> bytes:
    return bytes(wasmtime.wat2wasm((REPO / "tests" / "fixtures" / "echo_command.wat").read_text()))


def wess_contender(wasm: bytes) -> tuple[Callable[[int], float], Runtime]:
    runtime = Runtime()
    start = runtime.load(wasm).function("_start")
    given = CommandInput(stdin=PAYLOAD, argv=("echo",))
    assert start.run_command(given).stdout == PAYLOAD

    def run(n: int) -> float:
        began = time.perf_counter()
        for _ in range(n):
            start.run_command(given)
        return (time.perf_counter() - began) / n * 1e6

    return run, runtime


def documented_contender(wasm: bytes, folder: Path) -> Callable[[int], float]:
    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, wasm)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    stdin, stdout = folder / "stdin", folder / "stdout"

    def call() -> bytes:
        stdin.write_bytes(PAYLOAD)
        config = wasmtime.WasiConfig()
        config.argv = ["echo"]
        config.stdin_file = str(stdin)
        config.stdout_file = str(stdout)
        store = wasmtime.Store(engine)
        store.set_wasi(config)
        instance = linker.instantiate(store, module)
        entry = instance.exports(store)["_start"]
        assert isinstance(entry, wasmtime.Func)
        entry(store)
        return stdout.read_bytes()

    assert call() == PAYLOAD

    def run(n: int) -> float:
        began = time.perf_counter()
        for _ in range(n):
            call()
        return (time.perf_counter() - began) / n * 1e6

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="short runs, to try the harness")
    options = parser.parse_args()
    if options.quick:
        options.calls, options.rounds = 200, 3

    wasm = echo_wasm()
    with tempfile.TemporaryDirectory() as folder:
        wess, runtime = wess_contender(wasm)
        contenders = {
            "wess (run_command)": wess,
            "wasmtime-py WASI, files": documented_contender(wasm, Path(folder)),
        }
        samples = interleaved_rounds(
            contenders,
            calls=options.calls,
            rounds=options.rounds,
            warm_up=max(options.calls // 10, 20),
        )
        runtime.close()

    medians = {name: median(values) for name, values in samples.items()}
    print(
        f"P10: WASI command echo ({len(PAYLOAD)} bytes of stdin), {options.calls} calls x "
        f"{options.rounds} rounds, median us/call"
    )
    for name, value in medians.items():
        print(f"  {name:26s} {value:8.1f}")
    ours, theirs = medians["wess (run_command)"], medians["wasmtime-py WASI, files"]
    versus = ratio(ours, theirs)
    print(f"  wess / documented          {versus:8.3f}  (goal <= {GOAL})")
    emit(
        "P10",
        "WASI command call",
        [
            Row(
                measure="median time of one WASI command call (stdin -> stdout), in-process",
                unit="us",
                wess=ours,
                comparator="wasmtime-py WASI (fresh WasiConfig, stdin/stdout files)",
                comparator_value=theirs,
                ratio=versus,
                goal=f"<= {GOAL:g} x documented WASI",
                met=versus is not None and versus <= GOAL,
            )
        ],
        info=[
            f"{options.calls} calls x {options.rounds} interleaved rounds, median of the rounds",
            *(
                f"{name}: {value:.1f} us/call (rounds: "
                + ", ".join(f"{v:.1f}" for v in samples[name])
                + ")"
                for name, value in medians.items()
            ),
            "Wess: Runtime().load(wasm).function('_start').run_command(CommandInput(stdin=...)),"
            " a fresh instance per call, limits on",
        ],
        data={
            "medians_us": medians,
            "rounds_us": samples,
            "plot": {
                "kind": "line",
                "title": "one WASI command call (stdin -> stdout), per round",
                "xlabel": "round",
                "ylabel": "us per call (lower is better)",
                "series": {
                    name: [[index + 1, value] for index, value in enumerate(values)]
                    for name, values in samples.items()
                },
            },
        },
    )
    sys.stdout.flush()
    os._exit(0)  # see the docstring: wasmtime's WASI stdin panics at interpreter exit


if __name__ == "__main__":
    main()
