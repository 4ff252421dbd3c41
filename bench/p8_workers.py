"""P8: every core used: HTTP run throughput of `wess serve --workers 2` vs one process.

Two servers run side by side on the machine's PostgreSQL (a fresh schema each, so the
only difference is the number of processes): one with ``server.workers = 1``, one with
``server.workers = 2``. Each gets ``examples/sum.wasm`` and is loaded with P2's
requests (``POST /v1/modules/<id>/run {"function":"sum","args":[1,2]}``,
``wrk -t1 -c32 -d10s``) in alternating rounds; goal: two processes >= 1.6 x one on
this 2-core machine (wrk itself runs on the same two cores). A sweep over concurrency
feeds the plot.

    .venv/bin/python bench/p8_workers.py [--rounds 3] [--duration 10] [--quick]
"""

from __future__ import annotations

import argparse
import json

import postgres
import wrk
from figures import Row, emit, median, ratio, say
from servers import Server, production_features, sum_wasm, wess_server

GOAL = 1.6
WARM_UP_S = 2.0
RUN_BODY = {"function": "sum", "args": [1, 2]}


def target(name: str, server: Server) -> wrk.Target:
    module_id = server.upload(sum_wasm(), name=f"p8-{name}", function="sum")
    client = server.client()
    answer = client.post_json(f"/v1/modules/{module_id}/run", RUN_BODY)
    client.close()
    if answer.status != 200 or answer.json().get("results") != [3]:
        raise RuntimeError(f"{name}: run answered {answer.status}: {answer.body[:300]!r}")
    return wrk.Target(
        name,
        f"{server.url}/v1/modules/{module_id}/run",
        json.dumps(RUN_BODY).encode(),
        {"Content-Type": "application/json", **server.auth_headers},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--sweep", default="1,4,16,32,64", help="concurrencies to plot")
    parser.add_argument("--sweep-duration", type=float, default=3.0)
    parser.add_argument("--quick", action="store_true", help="short runs, to try the harness")
    options = parser.parse_args()
    if options.quick:
        options.rounds, options.duration, options.sweep_duration = 1, 2.0, 1.0
    sweep = [int(c) for c in options.sweep.split(",") if c]

    with (
        postgres.fresh_schema("bench_p8_one") as one_url,
        postgres.fresh_schema("bench_p8_two") as two_url,
        wess_server(env={"WESS_DB_URL": one_url, "WESS_SERVER_WORKERS": "1"}) as one,
        wess_server(env={"WESS_DB_URL": two_url, "WESS_SERVER_WORKERS": "2"}, processes=2) as two,
    ):
        targets = [target("one", one), target("two", two)]
        features = production_features(two)
        say("P8: warming up (every worker compiles the module on its first call)")
        for each in targets:
            wrk.run(each, connections=options.connections, duration_s=WARM_UP_S)
        say(f"P8: wrk -t1 -c{options.connections} -d{options.duration:g}s, alternating")
        rounds = wrk.alternate(
            targets,
            rounds=options.rounds,
            connections=options.connections,
            duration_s=options.duration,
        )
        say(f"P8: requests/s vs concurrency {sweep}, -d{options.sweep_duration:g}s each")
        swept: dict[str, list[list[float]]] = {"one": [], "two": []}
        for connections in sweep:
            once = wrk.alternate(
                targets, rounds=1, connections=connections, duration_s=options.sweep_duration
            )
            for name, results in once.items():
                swept[name].append([connections, results[0].requests_per_s])

    two_rate = median(r.requests_per_s for r in rounds["two"])
    one_rate = median(r.requests_per_s for r in rounds["one"])
    bad = sum(r.bad_status + r.socket_errors for r in rounds["one"] + rounds["two"])
    share = ratio(two_rate, one_rate)
    caveats = [f"{bad} requests answered with an error status or a socket error"] if bad else []
    info = [
        f"{name} req/s per round: " + ", ".join(f"{r.requests_per_s:.0f}" for r in rounds[name])
        for name in ("one", "two")
    ]
    info.append(
        "both servers on the machine's PostgreSQL (a fresh schema each), started together; "
        "features of the two-process server: "
        + ", ".join(f"{n} {'on' if f.on else 'OFF'}" for n, f in features.items())
    )
    emit(
        "P8",
        "Every core used",
        [
            Row(
                measure=f"run requests/s, --workers 2, wrk -t1 -c{options.connections} "
                f"-d{options.duration:g}s",
                unit="req/s",
                wess=two_rate,
                comparator="one process",
                comparator_value=one_rate,
                ratio=share,
                goal=f">= {GOAL:g} x one process",
                met=share is not None and share >= GOAL and not bad,
            )
        ],
        info=info,
        caveats=caveats,
        data={
            "rounds": {name: [r.as_data() for r in results] for name, results in rounds.items()},
            "plot": {
                "kind": "line",
                "title": "Run requests/s vs concurrency: one process and --workers 2",
                "xlabel": "wrk connections",
                "ylabel": "requests/s",
                "xscale": "log",
                "series": {"one process": swept["one"], "--workers 2": swept["two"]},
            },
        },
    )


if __name__ == "__main__":
    main()
