"""Run every figure (P1-P9, P11) one after another and rewrite docs/PERFORMANCE.md.

``make bench`` runs this with the bench environment's Python (matplotlib, extism) and
passes the project's Python, which runs each ``bench/pN_*.py`` (they import Wess).
Each figure's last line of stdout is its JSON result (see figures.py); a figure that
fails or prints no result is reported as "not measured" with the reason, and so is
P4 while ``bench/p4_cold_start.py`` does not exist. The figures' full output is kept
in a log directory printed at the end.

    .bench-venv/bin/python bench/run_all.py [--python .venv/bin/python] [--only P2,P3]
                                            [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import IO, Any, TextIO

import report
from figures import REPO, Row

FIGURE_TIMEOUT_S = 900
P4_SCRIPT = "p4_cold_start.py"


@dataclass(frozen=True)
class Figure:
    id: str
    script: str
    title: str


FIGURES = (
    Figure("P1", "p1_invoke.py", "Isolated in-process call"),
    Figure("P2", "p2_throughput.py", "HTTP invoke throughput"),
    Figure("P3", "p3_latency.py", "HTTP invoke latency"),
    Figure("P4", P4_SCRIPT, "Cold start after a restart"),
    Figure("P5", "p5_parallelism.py", "CPU-bound parallelism"),
    Figure("P6", "p6_writes.py", "Durable writes"),
    Figure("P7", "p7_memory.py", "Memory"),
    Figure("P8", "p8_workers.py", "Every core used"),
    Figure("P9", "p9_shared_store.py", "Shared store"),
    Figure("P11", "p11_component.py", "Component call"),
    Figure("P13", "tracing_overhead.py", "Tracing cost"),
)


@dataclass
class Outcome:
    """What one figure produced: its result document, or why there is none."""

    figure: Figure
    result: dict[str, Any] | None = None
    reason: str | None = None
    seconds: float = 0.0
    rows: list[Row] = field(default_factory=list)
    output: list[str] = field(default_factory=list)
    """The lines the script printed before its result line."""
    failed: bool = False
    """The script ran and broke (as opposed to: absent, or left out with --only)."""


def run_figure(
    figure: Figure, *, python: Path, logs: Path, quick: bool, extism_site: str
) -> Outcome:
    script = REPO / "bench" / figure.script
    if not script.exists():
        return Outcome(figure, reason=f"bench/{figure.script} does not exist yet")
    command = [str(python), str(script)]
    if quick and figure.id != "P4":
        command.append("--quick")
    if figure.id == "P1":
        command += ["--extism-site", extism_site]
    print(f"\n== {figure.id}: {figure.title} ({' '.join(command[1:])})", flush=True)
    log = logs / f"{figure.id}.stdout"
    errors = logs / f"{figure.id}.stderr"
    tail: deque[str] = deque(maxlen=1)
    start = time.perf_counter()
    # A session of its own, so a stuck figure can be stopped with the servers it started.
    with log.open("w") as out, errors.open("w") as err:
        process = subprocess.Popen(
            command, cwd=REPO, stdout=out, stderr=subprocess.PIPE, start_new_session=True
        )
        assert process.stderr is not None
        echo = threading.Thread(target=tee, args=(process.stderr, err, tail), daemon=True)
        echo.start()
        try:
            process.wait(FIGURE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            stop_group(process)
            reason = f"timed out after {FIGURE_TIMEOUT_S} s (its output: {logs})"
            return Outcome(figure, reason=reason, seconds=FIGURE_TIMEOUT_S, failed=True)
        except KeyboardInterrupt:
            stop_group(process)
            raise
        finally:
            echo.join(10)
    seconds = time.perf_counter() - start
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    for line in lines[:-1]:
        print(line)
    if process.returncode != 0:
        last = f": {tail[0]}" if tail else ""
        return Outcome(
            figure,
            reason=f"bench/{figure.script} exited with status {process.returncode}{last} "
            f"(its output: {errors})",
            seconds=seconds,
            failed=True,
        )
    try:
        result = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        result = None
    if not isinstance(result, dict):
        reason = f"bench/{figure.script} printed no JSON result line (its output: {log})"
        return Outcome(figure, reason=reason, seconds=seconds, failed=True)
    outcome = Outcome(figure, result=result, seconds=seconds, output=lines[:-1])
    try:
        outcome.rows = rows_of(figure, result)
    except (TypeError, ValueError) as exc:
        reason = f"bench/{figure.script} printed a result this harness cannot read: {exc}"
        return Outcome(figure, reason=reason, seconds=seconds, failed=True)
    print(f"== {figure.id} done in {seconds:.0f} s", flush=True)
    return outcome


def tee(stream: IO[bytes], sink: TextIO, tail: deque[str]) -> None:
    """Show a figure's progress (stderr) live, keep it in its log, remember its last line."""
    for raw in stream:
        line = raw.decode(errors="replace")
        sys.stderr.write(line)
        sys.stderr.flush()
        sink.write(line)
        if line.strip():
            tail.append(line.strip())


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the figure and the servers it started (they stop cleanly), then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(15)
            return
        except subprocess.TimeoutExpired:
            continue


def rows_of(figure: Figure, result: dict[str, Any]) -> list[Row]:
    if "rows" in result:
        return [Row(**row) for row in result["rows"]]
    if figure.id == "P4":
        return [p4_row(result)]
    raise ValueError(f"{figure.id}: result has no rows")


def p4_row(result: dict[str, Any]) -> Row:
    """P4's own line: ``{"figure", "first_invoke_ms", "compile_ms", "ratio", "goal"}``."""
    first = _number(result.get("first_invoke_ms"))
    compile_ms = _number(result.get("compile_ms"))
    share = _number(result.get("ratio"))
    if share is None and first is not None and compile_ms:
        share = first / compile_ms
    goal_raw = result.get("goal")
    goal = _number(goal_raw)
    if goal is None and isinstance(goal_raw, str):
        found = re.search(r"\d+(?:\.\d+)?", goal_raw)
        goal = float(found.group()) if found else None
    return Row(
        measure="first invoke after a restart vs compiling the ~1.4 MB module",
        unit="ms",
        wess=first,
        comparator="compile time",
        comparator_value=compile_ms,
        ratio=share,
        goal=f"<= {goal:g} x compile time" if goal is not None else str(goal_raw),
        met=None if share is None or goal is None else share <= goal,
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def machine(python: Path) -> dict[str, str]:
    probe = (
        "import json, platform; from importlib import metadata as m\n"
        "v = {}\n"
        "for name in ('wasmtime', 'uvicorn', 'rocksdict', 'wess'):\n"
        "    try: v[name] = m.version(name)\n"
        "    except m.PackageNotFoundError: v[name] = 'not installed'\n"
        "v['python'] = platform.python_version()\n"
        "print(json.dumps(v))"
    )
    versions = json.loads(
        subprocess.run(
            [str(python), "-c", probe], capture_output=True, text=True, check=True
        ).stdout
    )
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = "unknown"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    wrk = shutil.which("wrk")
    wrk_version = "not installed"
    if wrk:
        shown = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
        wrk_version = (shown.stdout or shown.stderr).splitlines()[0].split(" [")[0]
    try:
        extism = metadata.version("extism")
    except metadata.PackageNotFoundError:
        extism = "not installed"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit(),
        "cores": str(os.cpu_count()),
        "CPU": cpu,
        "memory": memory,
        "kernel": platform.release(),
        "Python": versions["python"],
        "wasmtime": versions["wasmtime"],
        "uvicorn": versions["uvicorn"],
        "rocksdict": versions["rocksdict"],
        "wrk": wrk_version,
        "extism": extism,
        "load average at start (1, 5, 15 min)": load,
        "load average at end (1, 5, 15 min)": "",  # filled in after the run
        "temporary directory (data dirs)": tempfile.gettempdir(),
    }


def commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short=12", "HEAD") or "unknown (not a git checkout)"
    changed = [line for line in git("status", "--porcelain").splitlines() if line]
    if changed:
        return f"{head} + uncommitted changes in {len(changed)} files"
    return head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", type=Path, default=REPO / ".venv" / "bin" / "python")
    parser.add_argument("--only", help="comma-separated figure ids, e.g. P2,P3")
    parser.add_argument("--quick", action="store_true", help="short runs, to try the harness")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "PERFORMANCE.md")
    options = parser.parse_args()
    if not options.python.exists():
        raise SystemExit(f"{options.python} does not exist: run `make bench` (it creates .venv)")
    wanted = {f.strip().upper() for f in options.only.split(",")} if options.only else None

    logs = Path(tempfile.mkdtemp(prefix="wess-bench-logs-"))
    info = machine(options.python)
    extism_site = sysconfig.get_path("purelib")
    started = time.perf_counter()
    outcomes: list[Outcome] = []
    for figure in FIGURES:
        if wanted is not None and figure.id not in wanted:
            outcomes.append(Outcome(figure, reason="not run (--only)"))
            continue
        outcome = run_figure(
            figure, python=options.python, logs=logs, quick=options.quick, extism_site=extism_site
        )
        if outcome.reason:
            print(f"== {figure.id} NOT measured: {outcome.reason}", flush=True)
        outcomes.append(outcome)
    total = time.perf_counter() - started
    info["load average at end (1, 5, 15 min)"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())

    (logs / "results.json").write_text(
        json.dumps(
            {"machine": info, "figures": {o.figure.id: o.result or o.reason for o in outcomes}},
            indent=1,
        )
    )
    report.write(outcomes, info, output=options.output, total_s=total, quick=options.quick)
    print(f"\nwrote {options.output} and its plots in {total / 60:.1f} min")
    print(f"figure output and results.json: {logs}")
    for outcome in outcomes:
        for row in outcome.rows:
            verdict = {True: "met", False: "NOT met", None: "n/a"}[row.met]
            shown = "-" if row.ratio is None else f"{row.ratio:.3f}"
            print(f"  {outcome.figure.id}  ratio {shown:>7}  {row.goal:28s} {verdict}")
        if outcome.reason:
            print(f"  {outcome.figure.id}  not measured: {outcome.reason}")
    sys.exit(1 if any(o.failed for o in outcomes) else 0)


if __name__ == "__main__":
    main()
