"""P3: HTTP invoke latency, Wess vs the floor app: p99 at ``wrk -t1 -c8 -d10s``.

Same two servers and requests as P2, alternating rounds, median p99 of the rounds;
goal: Wess p99 <= 1.5 x floor p99. The full percentile curves of every round go into
the result's data for the latency plot.

    .venv/bin/python bench/p3_latency.py [--rounds 3] [--duration 10] [--quick]
"""

from __future__ import annotations

import argparse

import wrk
from figures import Row, emit, median, ratio, say
from invocations import invocation_pair
from servers import features_info

GOAL = 1.5
WARM_UP_S = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="short runs, to try the harness")
    options = parser.parse_args()
    if options.quick:
        options.rounds, options.duration = 1, 2.0

    with invocation_pair() as pair:
        say("P3: warming up")
        for target in pair.targets:
            wrk.run(target, connections=options.connections, duration_s=WARM_UP_S)
        say(f"P3: wrk -t1 -c{options.connections} -d{options.duration:g}s, alternating")
        rounds = wrk.alternate(
            pair.targets,
            rounds=options.rounds,
            connections=options.connections,
            duration_s=options.duration,
        )
        features = pair.features

    p99 = {name: median(r.percentile_ms(99.0) for r in results) for name, results in rounds.items()}
    p50 = {name: median(r.percentile_ms(50.0) for r in results) for name, results in rounds.items()}
    bad = sum(r.bad_status + r.socket_errors for r in rounds["wess"])
    share = ratio(p99["wess"], p99["floor"])
    info = [
        f"p50: Wess {p50['wess']:.2f} ms, floor {p50['floor']:.2f} ms "
        f"(ratio {p50['wess'] / p50['floor']:.2f})",
        *(
            f"{name} p99 ms per round: " + ", ".join(f"{r.percentile_ms(99.0):.2f}" for r in res)
            for name, res in rounds.items()
        ),
        *features_info(features),
    ]
    caveats = []
    if bad:
        caveats.append(f"Wess answered {bad} requests with an error status or a socket error")
    emit(
        "P3",
        "HTTP invoke latency",
        [
            Row(
                measure=f"p99 latency, wrk -t1 -c{options.connections} -d{options.duration:g}s",
                unit="ms",
                wess=p99["wess"],
                comparator="floor_app",
                comparator_value=p99["floor"],
                ratio=share,
                goal=f"<= {GOAL:g} x floor",
                met=share is not None and share <= GOAL and not bad,
            )
        ],
        info=info,
        caveats=caveats,
        data={
            "rounds": {name: [r.as_data() for r in results] for name, results in rounds.items()},
            "features": {name: f.on for name, f in features.items()},
        },
    )


if __name__ == "__main__":
    main()
