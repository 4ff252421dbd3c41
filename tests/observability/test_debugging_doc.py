"""docs/debugging.md shows real log lines and traces: captured from a real Wess here.

Each example block of the page (``<!-- captured: NAME -->`` then a fenced block) is
compared with a fresh capture (``debugging_capture``): the same lines, the same fields,
the same values but for those that differ on every run (ids, times, durations). With
``UPDATE_DEBUGGING_EXAMPLES=1`` the blocks are rewritten from the capture instead.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs/debugging.md"
UPDATE = os.environ.get("UPDATE_DEBUGGING_EXAMPLES") == "1"
VARYING_FIELDS = frozenset(
    {"timestamp", "request_id", "trace_id", "module_id", "path", "duration_ms", "node"}
)
"""Log fields whose values differ on every run: only their presence is checked."""
VARYING_ATTRIBUTES = frozenset(
    {"url.path", "wess.request_id", "wess.module.id", "wess.module.digest"}
)
HIDDEN_LOGGERS = frozenset({"httpx"})
"""Loggers of the test's own client, not of Wess: left out of the page."""
BLOCK = re.compile(
    r"<!-- captured: (?P<name>[a-z-]+) -->\n```(?P<lang>\w*)\n(?P<body>.*?)```", re.S
)


@pytest.fixture(scope="module")
def captured() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.observability.debugging_capture"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    examples: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return examples


def rendered(name: str, example: list[Any]) -> str:
    if name.endswith("-log"):
        lines = [json.dumps(e) for e in example if e.get("logger") not in HIDDEN_LOGGERS]
    else:
        lines = list(example)
    return "\n".join(lines) + "\n"


def log_shape(text: str) -> list[tuple[Any, ...]]:
    """Each line's fields, with the values that do not vary from run to run."""
    shapes = []
    for line in text.splitlines():
        entry = json.loads(line)
        shapes.append(
            tuple(sorted((k, "*" if k in VARYING_FIELDS else repr(v)) for k, v in entry.items()))
        )
    return shapes


def trace_shape(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """Each span's place and name, and its attributes with the values that do not vary."""
    shapes = []
    for line in text.splitlines():
        head, _, attributes = line.partition("  ")
        while not head.strip():  # the indentation is part of the head
            extra, _, attributes = attributes.partition("  ")
            head += "  " + extra
        kept = []
        for pair in attributes.split():
            key, _, value = pair.partition("=")
            kept.append(f"{key}={'*' if key in VARYING_ATTRIBUTES else value}")
        shapes.append((head, tuple(kept)))
    return shapes


def shape(name: str, text: str) -> list[Any]:
    return log_shape(text) if name.endswith("-log") else trace_shape(text)


def test_the_examples_of_the_debugging_guide_are_what_wess_writes(captured):
    """Every captured block of docs/debugging.md matches what Wess writes now (run
    with UPDATE_DEBUGGING_EXAMPLES=1 to rewrite them after a change of the logs or
    spans), and every capture has its block."""
    text = DOC.read_text()
    blocks = {m["name"]: m for m in BLOCK.finditer(text)}
    assert set(blocks) == set(captured), "a captured example has no block, or the reverse"
    if UPDATE:

        def replace(match: re.Match[str]) -> str:
            body = rendered(match["name"], captured[match["name"]])
            return f"<!-- captured: {match['name']} -->\n```{match['lang']}\n{body}```"

        DOC.write_text(BLOCK.sub(replace, text))
        return
    for name, match in blocks.items():
        fresh = rendered(name, captured[name])
        assert shape(name, match["body"]) == shape(name, fresh), (
            f"docs/debugging.md's {name} differs from what Wess writes now:\n{fresh}"
            "rewrite the examples with UPDATE_DEBUGGING_EXAMPLES=1"
        )


def test_the_shape_ignores_ids_and_times_but_not_fields_or_values():
    """A check that cannot fail is no check: another id passes, another status or a
    missing field does not."""
    line = {"event": "request", "status": 200, "request_id": "a", "duration_ms": 1.0}
    same = {**line, "request_id": "b", "duration_ms": 2.5}
    assert log_shape(json.dumps(line)) == log_shape(json.dumps(same))
    assert log_shape(json.dumps(line)) != log_shape(json.dumps({**line, "status": 500}))
    assert log_shape(json.dumps(line)) != log_shape(json.dumps({"event": "request"}))
    span = "  auth  wess.namespace=default wess.request_id=1"
    assert trace_shape(span) == trace_shape(span.replace("=1", "=2"))
    assert trace_shape(span) != trace_shape(span.replace("default", "other"))
    assert trace_shape(span) != trace_shape("    auth  wess.namespace=default wess.request_id=1")
