"""docs/RELIABILITY.md's figures, from the last `make chaos` and `make soak`.

Reads what they left in docs/reliability/: ``chaos.jsonl`` (one line of figures per
destruction test, written by tests/chaos under WESS_CHAOS_RESULTS) and
``load-<profile>.json`` (bench/load.py), draws the soak's RSS over time, and rewrites the
part of docs/RELIABILITY.md between ``BEGIN`` and ``END``; the prose around it is kept.

    .bench-venv/bin/python bench/reliability.py
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "RELIABILITY.md"
FIGURES = REPO / "docs" / "reliability"
BEGIN = "<!-- generated: reliability (bench/reliability.py) -->"
END = "<!-- end: reliability -->"
PROFILES = ("smoke", "load", "stress", "spike", "soak", "soak-no-writes", "soak-long")
PYTEST = "WESS_CHAOS=full .venv/bin/python -m pytest"
ERROR_BUDGET = 0.001
DRIFT_BUDGET = 0.05


def chaos_lines() -> dict[str, list[dict[str, Any]]]:
    """Figures by test file (``test_kill9``...)."""
    by_file: dict[str, list[dict[str, Any]]] = defaultdict(list)
    path = FIGURES / "chaos.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            figures = json.loads(line)
            by_file[Path(figures["test"].split("::")[0]).stem].append(figures)
    return by_file


def loads() -> dict[str, dict[str, Any]]:
    found = {}
    for profile in PROFILES:
        path = FIGURES / f"load-{profile}.json"
        if path.exists():
            found[profile] = json.loads(path.read_text())
    return found


def rss_plot(soaks: dict[str, dict[str, Any]]) -> str:
    figure, axes = plt.subplots(figsize=(7, 3))
    for (profile, soak), color in zip(soaks.items(), ("#1f6fb4", "#e07b00", "#2ca02c"), strict=False):
        samples = soak["rss_samples"]
        label = f"{profile} ({soak['throughput_rps']} req/s)"
        xs = [t / 60 for t, _ in samples]
        axes.plot(xs, [rss / 2**20 for _, rss in samples], color=color, label=label)
        bounded = soak.get("bounded_samples")
        if bounded:
            axes.plot(
                [t / 60 for t, _ in bounded],
                [held / 2**20 for _, held in bounded],
                color=color,
                linestyle="--",
                label=f"{profile}: bounded caches and buffers",
            )
    axes.legend(loc="lower right")
    axes.set_xlabel("minutes")
    axes.set_ylabel("RSS (MiB)")
    axes.set_ylim(bottom=0)
    axes.set_title("wess serve's RSS over the soak")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    name = "soak-rss.png"
    figure.savefig(FIGURES / name, dpi=110)
    plt.close(figure)
    return f"reliability/{name}"


def ok(passed: bool) -> str:
    return "yes" if passed else "**NO**"


def kill_section(lines: list[dict[str, Any]]) -> list[str]:
    if not lines:
        return ["_No run recorded._", ""]
    (kill,) = lines[-1:]
    return [
        "| kills | writes acknowledged | writes checked after restarts | lost | torn |",
        "|---:|---:|---:|---:|---:|",
        f"| {kill['kills']} | {kill['acknowledged']} | {kill['checked']} | {kill['lost']} "
        f"| {kill['torn']} |",
        "",
        f"Command: `{PYTEST} tests/chaos/test_kill9.py`",
        "",
    ]


def corruption_section(lines: list[dict[str, Any]]) -> list[str]:
    rows = ["| damage | outcome |", "|---|---|"]
    for line in lines:
        if "refused" in line:
            outcome = (
                f"start refused in one sentence naming `wess salvage`; salvage copied "
                f"{line['salvaged']} of {line['written']} modules"
            )
        else:
            outcome = (
                f"started; {line['served']} modules served, {line['damaged']} answered 500 "
                "integrity_error (never run)"
            )
        rows.append(f"| {line['scenario']} | {outcome} |")
    return [*rows, "", f"Command: `{PYTEST} tests/chaos/test_corruption.py`", ""]


def faults_section(by_file: dict[str, list[dict[str, Any]]]) -> list[str]:
    rows = ["| fault | what happened |", "|---|---|"]
    for line in by_file.get("test_storage_faults", []):
        scenario = line["scenario"]
        if scenario == "errors":
            text = (
                f"{line['refused']} uploads refused with 503 (storage_unavailable, then "
                f"storage_circuit_open), slowest {line['slowest_refusal_s']} s; cached runs "
                "served; recovered without a restart"
            )
        elif scenario == "hang":
            text = (
                f"{line['refused']} uploads answered 503 (storage_timeout after "
                "writer.commit_timeout_ms, or overloaded past the write queue's bound), "
                f"slowest {line['slowest_answer_s']} s; the {line['held']} storage held landed "
                "once it answered, none withdrawn did; cached runs served"
            )
        else:
            text = f"{line['uploads']} uploads and their runs succeeded, slower"
        rows.append(f"| storage {scenario} (fault-injecting store) | {text} |")
    for line in by_file.get("test_full_disk", []):
        refusals = ", ".join(sorted(set(line["refusals"])))
        rows.append(
            f"| real full filesystem (tmpfs) | uploads refused with 503 {refusals}, naming the "
            "lack of space; stored modules served; uploads again once space returned |"
        )
    for line in by_file.get("test_redis", []):
        rows.append(
            f"| {line['scenario']} (frozen, then killed, then back) | frozen: {line['frozen']}; "
            f"killed: {line['dead']}; slowest answer {line['slowest_s']} s |"
        )
    files = " ".join(
        f"tests/chaos/{name}.py" for name in ("test_storage_faults", "test_full_disk", "test_redis")
    )
    return [*rows, "", f"Command: `{PYTEST} {files}`", ""]


def hostile_section(lines: list[dict[str, Any]]) -> list[str]:
    rows = [
        "| hostile case | answer | seconds | limit s | within limit + 100 ms |",
        "|---|---|---:|---:|---|",
    ]
    extra = []
    for line in lines:
        if "status" in line:
            answer = f"{line['status']} `{line['code']}`"
            within = ok(line.get("within_margin", False))
            rows.append(
                f"| {line['case']} | {answer} | {line['seconds']} | {line.get('limit_s', '')} "
                f"| {within} |"
            )
        elif line["case"] == "RSS":
            extra.append(
                f"RSS after {line['invocations']} hostile invocations (after a warm-up of 200): "
                f"{line['rss_before'] / 2**20:.1f} MiB -> {line['rss_after'] / 2**20:.1f} MiB, "
                f"growth {line['growth'] / 2**20:.2f} MiB (budget 10 MB)."
            )
        elif line["case"] == "slow clients":
            extra.append(
                f"{line['slow_connections']} connections sending one byte a second: "
                f"{line['served']} ordinary runs served meanwhile."
            )
    return [*rows, "", *extra, "", f"Command: `{PYTEST} tests/chaos/test_hostile.py`", ""]


def fuzz_section(by_file: dict[str, list[dict[str, Any]]]) -> list[str]:
    out = []
    for line in by_file.get("test_fuzz_api", []):
        if line["kind"] == "operations":
            out.append(
                f"- Schemathesis, every /v1 operation ({line['operations']}), all default "
                f"checks: {line['examples']} generated requests, {line['failures']} failures."
            )
        else:
            out.append(
                f"- Schemathesis stateful links: {line['sequences']} sequences of calls, "
                "0 failures."
            )
    for line in by_file.get("test_lifecycle", []):
        out.append(
            f"- Module lifecycle state machine on {line['backend']}: {line['runs']} runs of up "
            f"to {line['steps']} steps, 0 failures."
        )
    files = "tests/chaos/test_fuzz_api.py tests/chaos/test_lifecycle.py"
    return [*out, "", f"Command: `{PYTEST} {files}`", ""]


def load_section(found: dict[str, dict[str, Any]]) -> list[str]:
    rows = [
        "| profile | seconds | requests | req/s | p50 ms | p95 ms | p99 ms | shed (429/503) "
        "| other errors | RSS drift | drift outside the bounded caches and buffers |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for profile, run in found.items():
        drift = percent(run["rss_drift"])
        outside = percent(run.get("rss_drift_outside_bounded"))
        rows.append(
            f"| {profile} | {run['seconds']} | {run['requests']} | {run['throughput_rps']} "
            f"| {run['p50_ms']:g} | {run['p95_ms']:g} | {run['p99_ms']:g} | {run['shed']} "
            f"| {run['errors']} ({run['error_rate']:.3%}) | {drift} | {outside} |"
        )
    out = [*rows, ""]
    for profile, run in found.items():
        kinds = run["unexpected_by_kind"]
        if kinds:
            listed = ", ".join(f"`{kind}` {count}" for kind, count in sorted(kinds.items()))
            out.append(f"- {profile}, unexpected answers by kind: {listed}")
    soaks = {name: run for name, run in found.items() if name.startswith("soak")}
    if soaks:
        out += ["", f"![RSS over the soak]({rss_plot(soaks)})"]
    commands = ", ".join(f"`{run['command']}`" for run in found.values())
    return [*out, "", f"Commands: {commands} (`make soak` runs the soak).", ""]


def percent(value: float | None) -> str:
    return "" if value is None else f"{value:+.1%}"


def drift_met(soak: dict[str, Any] | None, key: str = "rss_drift") -> bool:
    if soak is None or soak.get(key) is None:
        return False
    return bool(abs(soak[key]) < DRIFT_BUDGET)


def verdicts(by_file: dict[str, list[dict[str, Any]]], found: dict[str, Any]) -> list[str]:
    kills = by_file.get("test_kill9", [])
    soak = found.get("soak")
    hostile = [line for line in by_file.get("test_hostile", []) if "status" in line]
    fuzz = [line for line in by_file.get("test_fuzz_api", []) if line["kind"] == "operations"]
    rows = [
        (
            "0 acknowledged writes lost over 50 kills",
            bool(kills) and kills[-1]["kills"] >= 50 and kills[-1]["lost"] == 0,
        ),
        (
            "0 corrupted reads served; a store with a damaged block starts and serves its "
            "intact modules",
            bool(by_file.get("test_corruption")),
        ),
        ("every hostile case answered as documented", len(hostile) >= 14),
        ("0 schemathesis failures", bool(fuzz) and fuzz[-1]["failures"] == 0),
        (
            "soak errors other than 429/503 shedding < 0.1%",
            soak is not None and soak["error_rate"] < ERROR_BUDGET,
        ),
        ("RSS drift over the soak < 5%", drift_met(soak)),
        (
            "RSS drift over the soak outside the bounded caches and buffers (RSS minus "
            "`wess_cache_bytes` and `wess_storage_memory_bytes`) < 5%",
            drift_met(soak, "rss_drift_outside_bounded"),
        ),
        (
            "RSS drift over the soak of runs and reads only (`--mix no-writes`) < 5%",
            drift_met(found.get("soak-no-writes")),
        ),
    ]
    return ["| goal | met |", "|---|---|", *(f"| {goal} | {ok(met)} |" for goal, met in rows), ""]


def render() -> str:
    by_file = chaos_lines()
    found = loads()
    levels = {line["level"] for lines in by_file.values() for line in lines}
    level = ", ".join(sorted(levels)) or "none recorded"
    parts = [
        BEGIN,
        f"Figures of the last recorded run (suite level: {level}).",
        "",
        "### Goals",
        "",
        *verdicts(by_file, found),
        "### kill -9 during writes",
        "",
        *kill_section(by_file.get("test_kill9", [])),
        "### Corruption",
        "",
        *corruption_section(by_file.get("test_corruption", [])),
        "### Storage and Redis failures",
        "",
        *faults_section(by_file),
        "### Hostile modules and inputs",
        "",
        *hostile_section(by_file.get("test_hostile", [])),
        "### Fuzzing",
        "",
        *fuzz_section(by_file),
        "### Load and soak",
        "",
        *load_section(found),
        END,
    ]
    return "\n".join(parts)


def main() -> None:
    text = DOC.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{DOC} has no {BEGIN} ... {END} part")
    DOC.write_text(pattern.sub(lambda _: render(), text))
    print(f"wrote {DOC.relative_to(REPO)}")


if __name__ == "__main__":
    main()
