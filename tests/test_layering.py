"""Imports run downhill (docs/architecture.md): each part of Wess imports only the parts
below it. Read from the source, so a new upward import fails here, naming the line."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "wess"

CORE = {"errors", "models", "messages"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "models": set(),
    "messages": {"models"},
    "files": set(),
    "wire": CORE,
    # config derives its documented defaults and bounds from the parts' own pure
    # descriptions (the sandbox limits, the invocation pool), never the reverse
    "config": {"errors", "runtime", "workers"},
    "runtime": {"errors", "models"},
    "security": {"circuit", "errors", "models", "files"},
    "observability": {"errors", "models"},
    "cache": {"errors"},
    "circuit": set(),
    "storage": {
        "circuit",
        "errors",
        "files",
        "messages",
        "models",
        "security",
        "observability",
        "wire",
    },
    "workers": CORE | {"cache", "circuit", "observability", "runtime", "security", "storage"},
    "auditing": CORE | {"observability", "security", "storage", "workers"},
    "keys": CORE | {"security", "storage", "workers"},
    # what an upload carries over and what a run request runs: pure rules of the service
    "uploading": CORE | {"runtime", "workers"},
    "targets": CORE | {"runtime"},
    "service": CORE | {"circuit", "runtime", "targets", "uploading", "workers"},
    "batching": CORE | {"workers"},
    "invocations": CORE | {"runtime", "service", "storage", "workers"},
    "ops": CORE | {"files", "security", "storage"},
    # the HTTP client of users' programs and the CLI: it knows the wire and the errors
    "client": {"errors"},
    "api": CORE
    | {
        "(root)",
        "auditing",
        "batching",
        "circuit",
        "invocations",
        "keys",
        "observability",
        "ops",
        "runtime",
        "security",
        "service",
        "targets",
        "uploading",
        "workers",
    },
}
"""Package -> the packages it may import. Above these sit ``server`` (the composition
root), ``cli`` and ``testing``, which may import anything below them."""

STORAGE_FROM_SECURITY = {"wess.security.crypto"}
"""Storage seals with the keyring, and knows no other part of security: the records it
stores (API keys, audit entries) are models."""


def imports() -> Iterator[tuple[str, int, str]]:
    """(module path, line, imported wess module) for every import in src/wess."""
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name == "wess" or name.startswith("wess."):
                    yield str(path.relative_to(SRC)), node.lineno, name


def part(relative: str) -> str:
    first = relative.split("/")[0]
    return first.removesuffix(".py")


def part_of(module: str) -> str:
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "(root)"


def upward(found: Iterator[tuple[str, int, str]]) -> list[str]:
    """The imports of ``found`` that ALLOWED does not allow."""
    return [
        f"{path}:{line} imports {module}"
        for path, line, module in found
        if part(path) in ALLOWED
        and part_of(module) != part(path)
        and part_of(module) not in ALLOWED[part(path)]
    ]


def test_every_import_points_downhill() -> None:
    """No part imports a part above it (the table ALLOWED)."""
    assert upward(imports()) == []


def test_storage_imports_no_record_type_from_security() -> None:
    """storage/ uses only the keyring from security (issue: stored records are models)."""
    found = [
        f"{path}:{line} imports {module}"
        for path, line, module in imports()
        if part(path) == "storage"
        and part_of(module) == "security"
        and module not in STORAGE_FROM_SECURITY
    ]
    assert found == []


def test_only_tests_use_the_testing_package() -> None:
    """wess.testing is for tests and users' tests; Wess itself never depends on it."""
    found = [
        f"{path}:{line}"
        for path, line, module in imports()
        if part_of(module) == "testing" and part(path) != "testing"
    ]
    assert found == []


def test_the_check_reports_an_upward_import() -> None:
    """The check itself: storage importing the Writer, or the runtime importing storage,
    is reported; an import within a part or downhill is not."""
    found = [
        ("storage/rocks/store.py", 3, "wess.workers.writer"),
        ("runtime/engine.py", 9, "wess.storage"),
        ("storage/memory.py", 5, "wess.storage.records"),
        ("workers/reader.py", 7, "wess.storage"),
    ]
    assert upward(iter(found)) == [
        "storage/rocks/store.py:3 imports wess.workers.writer",
        "runtime/engine.py:9 imports wess.storage",
    ]
