"""P11: one call of a component's string-in, string-out export, through Wess's embedding
API, against the wasmtime-py component API used directly with a fresh Store per call.

The component is examples/components/greeter.wasm (``greet: func(who: string) ->
string``, built from WAT: the call itself is a copy, so the figure is the cost of
everything around it). Both contenders run in this one process, in interleaved rounds,
and the median of the rounds is reported with the ratio P11 asks for (<= 0.75 x the
direct use). Wess is timed through ``Runtime().load(wasm).function("greet")("Ada")``:
a fresh Store and instance per call with the Runtime's limits (memory, tables,
instances, fuel budget, epoch deadline) applied, JSON values in and out. The direct
use is what wasmtime-py's own tests do: ``Store``, ``Linker.instantiate``,
``Instance.get_func(store, "greet")``, ``func(store, "Ada")``, on a default Engine.

    .venv/bin/python bench/p11_component.py [--calls 3000] [--rounds 9] [--quick]

The last line printed is the figure's result as JSON (see figures.py).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import wasmtime
from figures import EXAMPLES, Row, emit, interleaved_rounds, median, ratio
from wasmtime import component as wc

from wess.runtime import Runtime

GOAL = 0.75
GREETER = EXAMPLES / "components" / "greeter.wasm"


def direct_contender(wasm: bytes) -> Callable[[int], float]:
    """The wasmtime-py component API as its tests use it, a fresh Store per call."""
    engine = wasmtime.Engine()
    component = wc.Component(engine, wasm)
    linker = wc.Linker(engine)

    def run(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            store = wasmtime.Store(engine)
            instance = linker.instantiate(store, component)
            greet = instance.get_func(store, "greet")
            greet(store, "Ada")
        return (time.perf_counter() - start) / n * 1e6

    store = wasmtime.Store(engine)
    greet = linker.instantiate(store, component).get_func(store, "greet")
    assert greet(store, "Ada") == "Hello, Ada!"
    return run


def wess_contender(wasm: bytes) -> tuple[Callable[[int], float], Runtime]:
    runtime = Runtime()
    greet = runtime.load(wasm).function("greet")
    assert greet("Ada") == ["Hello, Ada!"]

    def run(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            greet("Ada")
        return (time.perf_counter() - start) / n * 1e6

    return run, runtime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="short runs, to try the harness")
    options = parser.parse_args()
    if options.quick:
        options.calls, options.rounds = 300, 3

    wasm = GREETER.read_bytes()
    wess, runtime = wess_contender(wasm)
    contenders: dict[str, Callable[[int], float]] = {
        "wess": wess,
        "wasmtime-py direct": direct_contender(wasm),
    }
    samples = interleaved_rounds(
        contenders, calls=options.calls, rounds=options.rounds, warm_up=max(options.calls // 10, 50)
    )
    runtime.close()
    medians = {name: median(values) for name, values in samples.items()}

    print(
        f"P11: greet(string) -> string of a component, {options.calls} calls x "
        f"{options.rounds} rounds, median us/call"
    )
    for name, value in medians.items():
        print(f"  {name:24s} {value:8.2f}")
    versus = ratio(medians["wess"], medians["wasmtime-py direct"])
    print(f"  wess / direct            {versus:8.3f}  (goal <= {GOAL})")
    emit(
        "P11",
        "Component call",
        [
            Row(
                measure="median time of one call of a component's greet(string) -> string, "
                "a fresh instance per call, in-process",
                unit="us",
                wess=medians["wess"],
                comparator="wasmtime-py component API, fresh Store per call",
                comparator_value=medians["wasmtime-py direct"],
                ratio=versus,
                goal=f"<= {GOAL:g} x direct",
                met=versus is not None and versus <= GOAL,
            )
        ],
        info=[
            f"{options.calls} calls x {options.rounds} interleaved rounds, median of the rounds",
            *(
                f"{name}: {value:.2f} us/call (rounds: "
                + ", ".join(f"{v:.2f}" for v in samples[name])
                + ")"
                for name, value in medians.items()
            ),
            "Wess is timed through the public embedding API: "
            "Runtime().load(wasm).function('greet')('Ada'), limits on (fuel budget, epoch "
            "deadline, memory, instances), JSON values in and out",
        ],
        data={
            "medians_us": medians,
            "rounds_us": samples,
            "plot": {
                "kind": "line",
                "title": "Component call, us per call in each round",
                "xlabel": "round",
                "ylabel": "us per call",
                "series": {
                    name: [[index + 1, value] for index, value in enumerate(values)]
                    for name, values in samples.items()
                },
            },
        },
    )


if __name__ == "__main__":
    main()
