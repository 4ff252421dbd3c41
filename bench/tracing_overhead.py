"""P13: what tracing costs a run request over HTTP, on and off.

Three ``wess serve`` processes side by side, each with ``examples/sum.wasm`` loaded with
P2's run requests (``wrk -t1 -c32 -d5s``, six rounds, each in another order of the
three, median requests/s):

- baseline: no ``[tracing]`` configured at all (the defaults);
- off: ``[tracing]`` configured (an OTLP endpoint, a sampling ratio) but not enabled;
- on: enabled, every request sampled (``sampling_ratio = 1``), spans batched by Wess's
  span processor (``SpanBatcher``, the one OTLP export uses) to an in-process exporter
  that drops them (``exporter = "discard"``), so what is measured is making, batching
  and handing over the spans, not a collector's network.

Goals: on >= 0.85 x off; off >= 0.99 x baseline. Whether tracing really ran is read
from the servers' answers (a refused request's problem document names its trace only
where tracing is on), not assumed.

    .venv/bin/python bench/tracing_overhead.py [--rounds 6] [--duration 5] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json

import wrk
from figures import Row, emit, median, ratio, say
from servers import Server, sum_wasm, wess_server

ON_GOAL = 0.85
OFF_GOAL = 0.99
WARM_UP_S = 2.0
RUN_BODY = {"function": "sum", "args": [1, 2]}
CONFIGURED = {
    "WESS_TRACING_ENDPOINT": "http://127.0.0.1:4318/v1/traces",
    "WESS_TRACING_SAMPLING_RATIO": "1.0",
}
SETUPS = {
    "baseline": {},
    "off": {**CONFIGURED, "WESS_TRACING_ENABLED": "false"},
    "on": {**CONFIGURED, "WESS_TRACING_ENABLED": "true", "WESS_TRACING_EXPORTER": "discard"},
}


def traced(server: Server, module_id: str) -> bool:
    """Whether ``server`` traces: its problem documents then carry a ``trace_id``."""
    client = server.client(authorized=False)
    try:
        answer = client.post_json(f"/v1/modules/{module_id}/run", RUN_BODY)
    finally:
        client.close()
    return "trace_id" in answer.json()


def target_of(name: str, server: Server) -> tuple[wrk.Target, bool]:
    module_id = server.upload(sum_wasm(), name="adder", function="sum")
    client = server.client()
    try:
        answer = client.post_json(f"/v1/modules/{module_id}/run", RUN_BODY)
    finally:
        client.close()
    if answer.status != 200 or answer.json().get("results") != [3]:
        raise RuntimeError(f"{name}: the run answered {answer.status}: {answer.body[:300]!r}")
    headers = {"Content-Type": "application/json", **server.auth_headers}
    url = f"{server.url}/v1/modules/{module_id}/run"
    return wrk.Target(name, url, json.dumps(RUN_BODY).encode(), headers), traced(server, module_id)


def rotated(
    targets: list[wrk.Target], *, rounds: int, connections: int, duration_s: float
) -> dict[str, list[wrk.WrkResult]]:
    """``rounds`` runs of each target, each round in the next of the targets' orders
    (all six orders of three every six rounds), so each server runs first, between and
    last as often: on a shared machine the load of others drifts within a round too."""
    orders = list(itertools.permutations(targets))
    results: dict[str, list[wrk.WrkResult]] = {t.name: [] for t in targets}
    for number in range(rounds):
        for target in orders[number % len(orders)]:
            result = wrk.run(target, connections=connections, duration_s=duration_s)
            say(
                f"  round {number + 1}/{rounds} {target.name:8s}: "
                f"{result.requests_per_s:7.0f} req/s  p99 {result.percentile_ms(99.0):7.2f} ms"
            )
            results[target.name].append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="short runs, to try the harness")
    options = parser.parse_args()
    if options.quick:
        options.rounds, options.duration = 1, 2.0

    with contextlib.ExitStack() as stack:
        targets: list[wrk.Target] = []
        tracing: dict[str, bool] = {}
        for name, env in SETUPS.items():
            server = stack.enter_context(wess_server(env=env))
            target, tracing[name] = target_of(name, server)
            targets.append(target)
        say("P13: warming up")
        for target in targets:
            wrk.run(target, connections=options.connections, duration_s=WARM_UP_S)
        say(f"P13: wrk -t1 -c{options.connections} -d{options.duration:g}s, rotating")
        rounds = rotated(
            targets,
            rounds=options.rounds,
            connections=options.connections,
            duration_s=options.duration,
        )

    rate = {name: median(r.requests_per_s for r in results) for name, results in rounds.items()}
    bad = {name: sum(r.bad_status + r.socket_errors for r in rounds[name]) for name in rounds}
    caveats = [f"{name} answered {n} requests with an error" for name, n in bad.items() if n]
    expected = {"baseline": False, "off": False, "on": True}
    wrong = [name for name, on in tracing.items() if on is not expected[name]]
    if wrong:
        caveats.append(
            "tracing was not as configured in: " + ", ".join(wrong) + " (read from a "
            "problem document's trace_id): the ratios do not measure what they claim"
        )
    on_share = ratio(rate["on"], rate["off"])
    off_share = ratio(rate["off"], rate["baseline"])
    measure = f"requests/s, wrk -t1 -c{options.connections} -d{options.duration:g}s"
    valid = not wrong and not any(bad.values())
    info = [
        "tracing seen in the answers: "
        + ", ".join(f"{name} {'on' if on else 'off'}" for name, on in tracing.items()),
        "on: every request sampled; spans batched (SpanBatcher) to an exporter that drops them",
    ]
    for name, results in rounds.items():
        shown = ", ".join(f"{r.requests_per_s:.0f}" for r in results)
        info.append(f"{name} req/s per round: {shown}")
    emit(
        "P13",
        "Tracing cost",
        [
            Row(
                measure=f"{measure}, tracing on (100% sampled) vs off",
                unit="req/s",
                wess=rate["on"],
                comparator="tracing off",
                comparator_value=rate["off"],
                ratio=on_share,
                goal=f">= {ON_GOAL:g} x off",
                met=on_share is not None and on_share >= ON_GOAL and valid,
            ),
            Row(
                measure=f"{measure}, tracing configured but off vs not configured",
                unit="req/s",
                wess=rate["off"],
                comparator="no tracing configured",
                comparator_value=rate["baseline"],
                ratio=off_share,
                goal=f">= {OFF_GOAL:g} x baseline",
                met=off_share is not None and off_share >= OFF_GOAL and valid,
            ),
        ],
        info=info,
        caveats=caveats,
        data={
            "rounds": {name: [r.as_data() for r in results] for name, results in rounds.items()},
            "tracing": tracing,
        },
    )


if __name__ == "__main__":
    main()
