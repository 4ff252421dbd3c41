"""P2: HTTP invoke throughput, Wess vs the floor app, side by side on loopback.

``wrk -t1 -c32 -d10s`` POSTs to Wess's run endpoint and to the floor's ``/run`` in
alternating rounds (median of the rounds); goal: Wess >= 1.0 x floor requests/s, with
all production features on. Which features the running Wess has on is read from its
answers and reported. Then a shorter sweep over concurrency feeds the throughput plot.

    .venv/bin/python bench/p2_throughput.py [--rounds 3] [--duration 10] [--quick]
"""

from __future__ import annotations

import argparse

import wrk
from figures import Row, emit, median, ratio, say
from invocations import invocation_pair
from servers import features_info

GOAL = 1.0
WARM_UP_S = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--sweep", default="1,4,8,16,32,64", help="concurrencies to plot")
    parser.add_argument("--sweep-duration", type=float, default=3.0)
    parser.add_argument("--quick", action="store_true", help="short runs, to try the harness")
    options = parser.parse_args()
    if options.quick:
        options.rounds, options.duration, options.sweep_duration = 1, 2.0, 1.0
    sweep = [int(c) for c in options.sweep.split(",") if c]

    with invocation_pair() as pair:
        say("P2: warming up")
        for target in pair.targets:
            wrk.run(target, connections=options.connections, duration_s=WARM_UP_S)
        say(f"P2: wrk -t1 -c{options.connections} -d{options.duration:g}s, alternating")
        rounds = wrk.alternate(
            pair.targets,
            rounds=options.rounds,
            connections=options.connections,
            duration_s=options.duration,
        )
        say(f"P2: requests/s vs concurrency {sweep}, -d{options.sweep_duration:g}s each")
        swept = {name: [] for name in ("floor", "wess")}
        for connections in sweep:
            once = wrk.alternate(
                pair.targets, rounds=1, connections=connections, duration_s=options.sweep_duration
            )
            for name, results in once.items():
                swept[name].append(results[0].as_data())
        features = pair.features

    wess = median(r.requests_per_s for r in rounds["wess"])
    floor = median(r.requests_per_s for r in rounds["floor"])
    bad = sum(r.bad_status + r.socket_errors for r in rounds["wess"])
    share = ratio(wess, floor)
    info = features_info(features)
    caveats = []
    missing = [name for name, feature in features.items() if not feature.on]
    if missing:
        caveats.append(
            "measured with " + ", ".join(missing) + " OFF (not in the server that ran): the "
            "goal is about all production features on, so it cannot count as met"
        )
    if bad:
        caveats.append(f"Wess answered {bad} requests with an error status or a socket error")
    for name in ("floor", "wess"):
        shown = ", ".join(f"{r.requests_per_s:.0f}" for r in rounds[name])
        info.append(f"{name} req/s per round: {shown}")
    emit(
        "P2",
        "HTTP invoke throughput",
        [
            Row(
                measure=f"requests/s, wrk -t1 -c{options.connections} -d{options.duration:g}s",
                unit="req/s",
                wess=wess,
                comparator="floor_app",
                comparator_value=floor,
                ratio=share,
                goal=f">= {GOAL:g} x floor",
                met=share is not None and share >= GOAL and not bad and not missing,
            )
        ],
        info=info,
        caveats=caveats,
        data={
            "rounds": {name: [r.as_data() for r in results] for name, results in rounds.items()},
            "sweep": {"connections": sweep, **swept},
            "features": {n: {"on": f.on, "evidence": f.evidence} for n, f in features.items()},
        },
    )


if __name__ == "__main__":
    main()
