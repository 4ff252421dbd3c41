"""docs/PERFORMANCE.md and docs/perf/*.png from one run of the figures.

Everything in the file is rewritten on every run except the hand-written notes after
``NOTES_MARKER``, which are carried over verbatim.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from figures import Row, median_index
from matplotlib.ticker import FuncFormatter

if TYPE_CHECKING:
    from run_all import Outcome

PLOTS = "perf"
"""The plots' folder, beside the Markdown file (docs/perf/ for docs/PERFORMANCE.md)."""
NOTES_MARKER = "<!-- hand-written notes below: make bench keeps everything after this line -->"
COLORS = {"wess": "#1f6fb4", "floor": "#e07b00"}
TIMES, LE, GE, DASH = "\u00d7", "\u2264", "\u2265", "\u2013"  # the page's typography
UNITS = {"us": "\u00b5s"}

MEANINGS = (
    (
        "P1",
        "one isolated in-process call of `sum(i32,i32)` through Wess's embedding API "
        "(`wess.runtime`), a fresh instance per call with its limits applied",
        "median µs/call of interleaved rounds, Wess vs `naive_fresh` (the wasmtime-py "
        "documented path) and `extism_reused` (one reused Extism plugin), same process",
        f"{LE} 0.25 {TIMES} naive_fresh and {LE} 0.5 {TIMES} extism_reused",
    ),
    (
        "P2",
        "HTTP invoke throughput of one server process with all production features on",
        "`wrk -t1 -c32 -d10s` POST `/v1/modules/<id>/run` vs POST `/run` on the floor app, "
        "both on loopback, alternating rounds, median requests/s",
        f"{GE} 1.0 {TIMES} floor",
    ),
    (
        "P3",
        "HTTP invoke latency",
        "p99 of `wrk -t1 -c8 -d10s`, same requests as P2, alternating rounds, median p99",
        f"{LE} 1.5 {TIMES} floor p99",
    ),
    (
        "P4",
        "cold start: first invoke of a stored ~1.4 MB module after a restart",
        "first-invoke latency vs the time to compile that module (bench/p4_cold_start.py)",
        f"{LE} 0.05 {TIMES} compile time",
    ),
    (
        "P5",
        "CPU-bound parallelism over HTTP",
        "wall time of two concurrent calls of a ~1 s function (loop count calibrated on "
        "the machine) vs one call alone, alternating rounds, medians",
        f"{LE} 1.15 {TIMES} one call (2 cores)",
    ),
    (
        "P6",
        "durable writes: the group-committing Writer, in-process",
        "32 asyncio producers of 1 KB module records, each acknowledged once synced, vs a "
        "loop of synced single `rocksdict` puts of the same records; also HTTP creates/s",
        f"{GE} 5 {TIMES} the loop",
    ),
    (
        "P7",
        "memory of a real server",
        "RSS after storing 10,000 distinct small modules and invoking 1,000 of them; "
        'compiled-module cache (`wess_cache_bytes{cache="compiled"}`) vs `runner.cache_size`',
        f"RSS {LE} 300 MB; cache within its budget",
    ),
    (
        "P8",
        "every core used: `wess serve --workers 2` vs one process (docs/scaling.md)",
        "P2's requests and wrk runs against two servers on the machine's PostgreSQL (a "
        "fresh schema each), one process vs two, alternating rounds, median requests/s",
        f"{GE} 1.6 {TIMES} one process (2 cores)",
    ),
    (
        "P9",
        "the shared store: PostgreSQL vs the embedded RocksDB, and the coherence delay "
        "across three nodes",
        "P2's requests against a server on each store, alternating rounds; creates/s of "
        "each (information); three nodes on one PostgreSQL: an update acknowledged by A, "
        "the delay until B and C run the new code, p50/p99/most",
        f"runs {GE} 0.95 {TIMES} embedded; every delay {LE} 1 s",
    ),
    (
        "P11",
        "one in-process call of a component's string-in, string-out export "
        "(`greet: func(who: string) -> string`, examples/components/greeter.wasm) through "
        "Wess's embedding API, a fresh instance per call with its limits applied",
        "median µs/call of interleaved rounds, Wess vs the wasmtime-py component API used "
        "directly (`Store`, `Linker.instantiate`, `get_func`, call) with a fresh Store per "
        "call, same process",
        f"{LE} 0.75 {TIMES} direct",
    ),
    (
        "P13",
        "tracing cost: run requests with OpenTelemetry tracing on (every request sampled, "
        "spans batched to an in-process exporter that drops them) and off (`[tracing]` "
        "configured, not enabled) vs not configured",
        "P2's requests against three servers side by side: tracing on, tracing configured "
        "but off, and no tracing configured; `wrk -t1 -c32 -d5s`, six rounds in every "
        "order of the three, median requests/s",
        f"on {GE} 0.85 {TIMES} off; off {GE} 0.99 {TIMES} not configured",
    ),
)


def number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if size >= 1 else f"{value:.3f}"


def verdict(met: bool | None) -> str:
    return {True: "met", False: "**NOT met**", None: "not measured"}[met]


def pretty_goal(goal: str) -> str:
    return goal.replace(">=", GE).replace("<=", LE).replace(" x ", f" {TIMES} ")


def write(
    outcomes: Sequence[Outcome],
    machine: dict[str, str],
    *,
    output: Path,
    total_s: float,
    quick: bool,
) -> None:
    plot_dir = output.parent / PLOTS
    plot_dir.mkdir(parents=True, exist_ok=True)
    by_id = {o.figure.id: o for o in outcomes}
    plots = {
        "latency": plot_latency(by_id["P3"].result, plot_dir / "latency.png"),
        "throughput": plot_throughput(by_id["P2"].result, plot_dir / "throughput.png"),
    }
    for outcome in outcomes:
        spec = (outcome.result or {}).get("data", {}).get("plot")
        if spec:
            name = outcome.figure.id.lower()
            plots[name] = plot_figure(spec, plot_dir / f"{name}.png")
    notes = kept_notes(output)
    write_scaling(outcomes, machine, output.parent / "scaling.md")
    output.write_text(markdown(outcomes, machine, plots, total_s=total_s, quick=quick, notes=notes))


def kept_notes(output: Path) -> str:
    if not output.exists():
        return ""
    text = output.read_text()
    return text.split(NOTES_MARKER, 1)[1].strip("\n") if NOTES_MARKER in text else ""


def markdown(
    outcomes: Sequence[Outcome],
    machine: dict[str, str],
    plots: dict[str, str | None],
    *,
    total_s: float,
    quick: bool,
    notes: str,
) -> str:
    out: list[str] = []
    add = out.append
    add("# Performance")
    add("")
    add(
        f"Generated by `make bench` on {machine['date']} at commit `{machine['commit']}`, "
        f"in {total_s / 60:.1f} minutes. Everything above the hand-written notes at the end "
        "is rewritten by every run: do not edit it by hand."
    )
    if quick:
        add("")
        add(
            "> **This run used `--quick`** (short runs, fewer modules): the numbers only show "
            "that the harness works. Run `make bench` for the real figures."
        )
    add("")
    add("## How to reproduce")
    add("")
    add(
        "```sh\nmake bench\n```\n\n"
        "On a fresh clone this creates `.venv` (the project) and `.bench-venv` (the "
        "comparators' and the plots' packages: extism, matplotlib; never installed into "
        "the project's environment), installs `wrk` with apt-get when run as root, runs "
        "every figure one after another and rewrites this file and `docs/perf/*.png`. "
        "`make test` never runs it. One figure alone: `.venv/bin/python bench/p2_throughput.py` "
        "(each script takes `--quick` and `--help`); all of them, shorter: "
        "`.bench-venv/bin/python bench/run_all.py --quick`. Each script prints its progress, "
        "then one JSON line with its numbers."
    )
    add("")
    add(
        "Every figure is a ratio against a comparator kept in `bench/` (`naive_invoke.py`, "
        "`floor_app.py`: the same code paths as the project's reference comparators) measured on "
        "the same machine in the same run, in alternating rounds (medians reported): "
        "absolute numbers on these shared 2-core machines drift from run to run, ratios "
        "taken side by side hold, though other work on the machine during a run still adds "
        "noise (the load averages under Machine show how busy it was). The HTTP figures "
        "run a real `wess serve` with its default "
        "settings (every `WESS_*` variable of the caller is dropped, logging stays at its "
        "default level) but for its rate limits, raised far above the bench's load so the "
        "limiter still counts every request yet refuses none of the bench's own, in a fresh "
        "temporary data directory, and the floor app started "
        "exactly as the docstring of `bench/floor_app.py` shows. When Wess writes "
        "`<data dir>/admin.key` at start-up, every request carries it as a bearer token."
    )
    add("")
    add("## What each figure means")
    add("")
    add("| id | what | how it is measured | goal |")
    add("|---|---|---|---|")
    for figure_id, what, how, goal in MEANINGS:
        add(f"| {figure_id} | {what} | {how} | {goal} |")
    add("")

    add("## Results")
    add("")
    add("| figure | measure | Wess | comparator (same run) | ratio | goal | goal met? |")
    add("|---|---|---|---|---|---|---|")
    for outcome in outcomes:
        figure = outcome.figure
        if not outcome.rows:
            add(
                f"| {figure.id} {figure.title} |" + f" {DASH} |" * 5 + " "
                f"not measured: {outcome.reason} |"
            )
            continue
        for row in outcome.rows:
            unit = UNITS.get(row.unit, row.unit)
            comparator = f"{row.comparator}: {number(row.comparator_value)} {unit}"
            ratio = DASH if row.ratio is None else f"{row.ratio:.3f}"
            add(
                f"| {figure.id} {figure.title} | {row.measure} | "
                f"{number(row.wess)} {unit} | {comparator} | {ratio} | "
                f"{pretty_goal(row.goal)} | {verdict(row.met)} |"
            )
    add("")

    unmet = [(o, row) for o in outcomes for row in o.rows if row.met is False]
    unmeasured = [o for o in outcomes if not o.rows or any(r.met is None for r in o.rows)]
    add("### Goals not met")
    add("")
    if not unmet and not unmeasured:
        add("None: every goal was met in this run.")
    for outcome, row in unmet:
        caveats = " ".join(f"Caveat: {c}." for c in (outcome.result or {}).get("caveats", []))
        add(
            f"- **{outcome.figure.id} ({outcome.figure.title}) is not met**: {sentence(row)}"
            + (f" {caveats}" if caveats else "")
        )
    for outcome in unmeasured:
        reason = outcome.reason or "part of it could not be measured (see its details)"
        add(f"- **{outcome.figure.id} ({outcome.figure.title}) was not measured**: {reason}.")
    add("")

    features = features_of(outcomes)
    if features:
        add("### Production features on during the HTTP figures")
        add("")
        add(
            "Read from the running server (P2), not assumed. P2's goal is about a server with "
            "all of them on; a figure measured with one of them off does not meet that goal."
        )
        add("")
        add("| feature | on? | how it was seen |")
        add("|---|---|---|")
        for name, on, evidence in features:
            add(f"| {name} | {'on' if on else '**off**'} | {evidence} |")
        add("")

    add("## Plots")
    add("")
    for name, caption in (
        ("latency", "Latency distribution of Wess and the floor app (P3 runs, `-c8`)"),
        ("throughput", "Requests/s vs concurrency, Wess and the floor app (P2 sweep)"),
    ):
        if plots[name]:
            add(f"![{caption}]({PLOTS}/{name}.png)")
            add("")
            add(f"*{caption}. {plots[name]}*")
        else:
            add(f"*{caption}: not drawn, its figure was not measured in this run.*")
        add("")
    for outcome in outcomes:
        name = outcome.figure.id.lower()
        spec = (outcome.result or {}).get("data", {}).get("plot")
        if spec and plots.get(name):
            add(f"![{outcome.figure.id}: {spec['title']}]({PLOTS}/{name}.png)")
            add("")
            add(f"*{outcome.figure.id}: {spec['title']}. {plots[name]}*")
            add("")

    add("## Details per figure")
    add("")
    for outcome in outcomes:
        add(f"### {outcome.figure.id}: {outcome.figure.title}")
        add("")
        if outcome.result is None:
            add(f"Not measured: {outcome.reason}.")
        else:
            add(f"`bench/{outcome.figure.script}`, {outcome.seconds:.0f} s.")
            add("")
            for line in outcome.result.get("caveats", []):
                add(f"- **caveat**: {line}")
            for line in outcome.result.get("info", []):
                add(f"- {line}")
            if "info" not in outcome.result:  # a script with its own result format (P4)
                for line in outcome.output:
                    add(f"- `{line.strip()}`")
                shown = ", ".join(f"{k} = {v}" for k, v in outcome.result.items() if k != "figure")
                add(f"- result: {shown}")
        add("")

    add("## Machine")
    add("")
    add("| | |")
    add("|---|---|")
    for key, value in machine.items():
        add(f"| {key} | {value} |")
    add("")
    add("## Notes")
    add("")
    add(NOTES_MARKER)
    if notes:
        add("")
        add(notes)
    return "\n".join(out) + "\n"


def sentence(row: Row) -> str:
    ratio = DASH if row.ratio is None else f"{row.ratio:.3f}"
    unit = UNITS.get(row.unit, row.unit)
    return (
        f"{row.measure}: Wess {number(row.wess)} {unit} against {row.comparator} "
        f"{number(row.comparator_value)} {unit} in the same run, ratio {ratio}; "
        f"the goal is {pretty_goal(row.goal)}."
    )


def features_of(outcomes: Sequence[Outcome]) -> list[tuple[str, bool, str]]:
    for outcome in outcomes:
        if outcome.figure.id == "P2" and outcome.result:
            found = outcome.result.get("data", {}).get("features", {})
            return [(name, bool(f["on"]), str(f["evidence"])) for name, f in found.items()]
    return []


def _nines(percentile: float) -> float:
    """Percentiles on a "number of nines" axis: 90 -> 1, 99 -> 2, 99.9 -> 3."""
    return -math.log10(1 - percentile / 100)


def plot_latency(result: dict[str, Any] | None, path: Path) -> str | None:
    if not result or "rounds" not in result.get("data", {}):
        path.unlink(missing_ok=True)
        return None
    rounds = result["data"]["rounds"]
    fig, ax = plt.subplots(figsize=(9, 5.2), dpi=110)
    ticks = [50, 90, 99, 99.9, 99.99]
    for name in ("floor", "wess"):
        runs = rounds[name]
        p99s = [_percentile(run, 99.0) for run in runs]
        chosen = median_index(p99s)
        for index, run in enumerate(runs):
            # p0 (the single fastest request) and p100 stretch the axes and say little.
            points = [(p, v) for p, v in run["percentiles_us"] if 0 < p < 100]
            xs = [_nines(p) for p, _ in points]
            ys = [v / 1000 for _, v in points]
            label = None
            if index == chosen:
                label = (
                    f"{'Wess' if name == 'wess' else 'floor'} "
                    f"(median round: p50 {_percentile(run, 50.0) / 1000:.2f} ms, "
                    f"p99 {p99s[index] / 1000:.2f} ms, {run['requests_per_s']:,.0f} req/s)"
                )
            ax.plot(
                xs,
                ys,
                color=COLORS[name],
                linewidth=2.2 if index == chosen else 0.8,
                alpha=1.0 if index == chosen else 0.35,
                marker="o" if index == chosen else None,
                markersize=3,
                label=label,
            )
    ax.set_xticks([_nines(p) for p in ticks], [f"{p:g}%" for p in ticks])
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms)")
    ax.set_yscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}")  # 0.5, 1, 2, not 5 x 10^-1
    ax.yaxis.set_major_formatter(plain)
    low, high = ax.get_ylim()
    if math.log10(high / low) <= 1.5:  # label the 2, 3, 5 ticks too while they fit
        ax.yaxis.set_minor_formatter(plain)
    ax.grid(True, which="both", alpha=0.3)
    connections = rounds["wess"][0]["connections"]
    ax.set_title(f"Invoke latency, wrk -t1 -c{connections} (P3); thin lines: other rounds")
    ax.legend(loc="upper left", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return (
        "Each line is one wrk run's latency percentiles; the thick one is the round with "
        "the median p99. Lower is better; log scale."
    )


def _percentile(run: dict[str, Any], wanted: float) -> float:
    for p, value in run["percentiles_us"]:
        if p == wanted:
            return float(value)
    raise KeyError(wanted)


def plot_throughput(result: dict[str, Any] | None, path: Path) -> str | None:
    if not result or "sweep" not in result.get("data", {}):
        path.unlink(missing_ok=True)
        return None
    sweep = result["data"]["sweep"]
    connections = sweep["connections"]
    fig, ax = plt.subplots(figsize=(9, 5.2), dpi=110)
    rates: dict[str, list[float]] = {}
    for name in ("floor", "wess"):
        rates[name] = [run["requests_per_s"] for run in sweep[name]]
        ax.plot(
            connections,
            rates[name],
            color=COLORS[name],
            marker="o",
            linewidth=2,
            label="Wess" if name == "wess" else "floor app",
        )
    for c, wess, floor in zip(connections, rates["wess"], rates["floor"], strict=True):
        if floor:
            ax.annotate(
                f"{wess / floor:.2f}x",
                (c, wess),
                textcoords="offset points",
                xytext=(0, -14),
                ha="center",
                fontsize=8,
                color=COLORS["wess"],
            )
    ax.set_xscale("log", base=2)
    ax.set_xticks(connections, [str(c) for c in connections])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("concurrent connections (wrk -t1 -cN)")
    ax.set_ylabel("requests/s")
    ax.grid(True, alpha=0.3)
    ax.set_title("Invoke throughput vs concurrency (labels: Wess / floor)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    duration = sweep["wess"][0]["duration_s"] if sweep["wess"] else 0
    return (
        f"One wrk run of about {duration:.0f} s per point and side, alternating; higher is better."
    )


def plot_figure(spec: dict[str, Any], path: Path) -> str | None:
    """The plot a figure describes in its result (``data["plot"]``): ``kind`` "line"
    (series of [x, y] points) or "histogram" (series of values); the caption's end."""
    series: dict[str, list[Any]] = spec.get("series", {})
    if not any(series.values()):
        return None
    figure, axes = plt.subplots(figsize=(7, 4))
    for index, (label, values) in enumerate(series.items()):
        color = f"C{index}"
        if spec.get("kind") == "histogram":
            axes.hist(values, bins=min(50, max(10, len(values) // 10)), label=label, color=color)
        else:
            axes.plot(
                [p[0] for p in values], [p[1] for p in values], "o-", label=label, color=color
            )
    if spec.get("xscale") == "log":
        axes.set_xscale("log", base=2)
    axes.set_title(spec.get("title", ""))
    axes.set_xlabel(spec.get("xlabel", ""))
    axes.set_ylabel(spec.get("ylabel", ""))
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return "Drawn from this run's numbers."


SCALING_START = "<!-- generated by make bench: scaling -->"
SCALING_END = "<!-- end: scaling -->"


def write_scaling(outcomes: Sequence[Outcome], machine: dict[str, str], path: Path) -> None:
    """The figures of docs/scaling.md (P8, P9 and the coherence delay), between its
    markers, when this run measured them; the last measured ones stay otherwise."""
    measured = [o for o in outcomes if o.figure.id in ("P8", "P9") and o.rows]
    if not measured or not path.exists():
        return
    text = path.read_text()
    if SCALING_START not in text or SCALING_END not in text:
        return
    lines = [
        "",
        f"Measured by `make bench` on {machine['date']} at commit `{machine['commit']}` "
        "(the same run as docs/PERFORMANCE.md, where the details and plots are):",
        "",
        "| figure | measure | Wess | comparator (same run) | ratio | goal | goal met? |",
        "|---|---|---|---|---|---|---|",
    ]
    for outcome in measured:
        for row in outcome.rows:
            unit = UNITS.get(row.unit, row.unit)
            ratio = DASH if row.ratio is None else f"{row.ratio:.3f}"
            lines.append(
                f"| {outcome.figure.id} | {row.measure} | {number(row.wess)} {unit} | "
                f"{row.comparator}: {number(row.comparator_value)} {unit} | {ratio} | "
                f"{pretty_goal(row.goal)} | {verdict(row.met)} |"
            )
    lines.append("")
    for outcome in measured:
        lines.extend(f"- {line}" for line in (outcome.result or {}).get("info", []))
    lines.append("")
    before, rest = text.split(SCALING_START, 1)
    after = rest.split(SCALING_END, 1)[1]
    path.write_text(before + SCALING_START + "\n".join(lines) + SCALING_END + after)
