"""What every figure script shares: where things are, medians, and the result line.

Each ``bench/pN_*.py`` ends by printing ONE line of JSON (``emit``): the figure id,
one ``Row`` per goal (Wess's number, the comparator's number from the same run, the
ratio, the goal and whether it was met), free-text ``info`` lines, ``caveats``, and
raw ``data`` for the plots. ``run_all.py`` reads that last line; a person reads the lines above it.

Stdlib only: the driver imports this from the bench environment, the figure scripts
from the project's.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
"""This folder: the figure scripts and the comparators they measure Wess against."""
EXAMPLES = REPO / "examples"


@dataclass(frozen=True, slots=True)
class Row:
    """One goal of one figure, measured side by side with its comparator."""

    measure: str
    unit: str
    wess: float | None
    comparator: str
    comparator_value: float | None
    ratio: float | None
    goal: str
    met: bool | None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def interleaved_rounds(
    contenders: Mapping[str, Callable[[int], float]], *, calls: int, rounds: int, warm_up: int
) -> dict[str, list[float]]:
    """Each contender (``calls`` -> µs per call) warmed up, then run ``rounds`` times in
    turn with the others, so a busy moment of the machine weighs on all alike; each
    one's rounds."""
    for run in contenders.values():
        run(warm_up)
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            samples[name].append(run(calls))
    return samples


def median_index(values: Sequence[float]) -> int:
    """The index of the (lower) median value: the round whose curve is plotted."""
    order = sorted(range(len(values)), key=values.__getitem__)
    return order[(len(order) - 1) // 2]


def emit(
    figure: str,
    title: str,
    rows: Sequence[Row],
    *,
    info: Sequence[str] = (),
    caveats: Sequence[str] = (),
    data: dict[str, Any] | None = None,
) -> None:
    """Print the result line ``run_all.py`` reads (always the last line of stdout).

    ``caveats`` say why a number is not the one its goal is about (a feature that was
    off, errors under load): the report prints them beside the verdict.
    """
    document = {
        "figure": figure,
        "title": title,
        "rows": [asdict(row) for row in rows],
        "info": list(info),
        "caveats": list(caveats),
        "data": data or {},
    }
    sys.stdout.write(json.dumps(document) + "\n")
    sys.stdout.flush()


def say(text: str) -> None:
    """Progress for the person watching: stderr, so stdout ends with the result line."""
    print(text, file=sys.stderr, flush=True)
