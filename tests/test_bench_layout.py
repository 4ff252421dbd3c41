"""The bench runs from any clone: nothing in it reaches outside the repository.

``make bench`` once imported its comparators from a folder beside the repository,
which exists on one machine only. These tests keep every path of ``bench/``, the
Makefile and pyproject.toml inside the repository, and check that the comparators
live in ``bench/`` and import, without running any benchmark.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
COMPARATORS = ("naive_invoke", "floor_app")

OUTSIDE = re.compile(
    r"""
      (?<!\.)\.\./                 # ../anything, not an ellipsis (.../run)
    | ["']\.\.["']                 # Path("..") and friends
    | \b(?:REPO|ROOT)\.parent\b    # the folder that holds the repository
    | \.parents\[[2-9]\]           # bench/x.py -> parents[1] is the repository itself
    | \.parent\.parent\.parent\b
    | /work/                       # this machine's layout
    | \bshared/bench\b
    """,
    re.VERBOSE,
)


def outside_references(text: str) -> list[str]:
    """The lines of ``text`` that name a path outside the repository."""
    return [line.strip() for line in text.splitlines() if OUTSIDE.search(line)]


def checked_files() -> list[Path]:
    files = [p for p in BENCH.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return [*sorted(files), ROOT / "Makefile", ROOT / "pyproject.toml"]


@pytest.mark.parametrize(
    "line",
    [
        'SHARED_BENCH = REPO.parent / "shared" / "bench"',
        "see ../shared/bench/README.md",
        'Path(__file__).resolve().parents[2] / "shared"',
        'python_path = Path("..") / "x"',
        "--app-dir /work/shared/bench",
    ],
)
def test_the_check_sees_a_path_outside_the_repository(line):
    """The pattern recognises each way bench/ once (or could) name the parent folder."""
    assert outside_references(line) == [line]


def test_the_check_leaves_paths_inside_the_repository_alone():
    """``parents[1]`` of a file in bench/ is the repository; an output's parent is fine."""
    text = 'REPO = Path(__file__).resolve().parents[1]\nplot_dir = output.parent / "perf"\n'
    assert outside_references(text) == []


@pytest.mark.parametrize("path", checked_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_bench_file_names_a_path_outside_the_repository(path):
    """bench/, the Makefile and pyproject.toml stay inside the clone they come with."""
    text = path.read_text(errors="replace")
    assert outside_references(text) == [], f"{path.relative_to(ROOT)} reaches outside the repo"


TEST_IMPORT = re.compile(r"^\s*(?:from|import)\s+tests\b", re.MULTILINE)


@pytest.mark.parametrize("path", sorted(BENCH.glob("*.py")), ids=lambda p: p.name)
def test_no_bench_script_imports_the_test_suite(path):
    """``make bench`` runs each script with bench/ on its path, not the repository: an
    import of ``tests`` works under pytest and breaks the figure (P6 once did)."""
    assert TEST_IMPORT.search(path.read_text()) is None, f"{path.name} imports tests"


@pytest.fixture
def bench_modules(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """bench/ on sys.path the way ``python bench/pN.py`` has it; its modules forgotten after."""
    before = set(sys.modules)
    monkeypatch.syspath_prepend(str(BENCH))
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]


def bench_module(name: str) -> ModuleType:
    module = importlib.import_module(name)
    assert Path(module.__file__ or "").parent == BENCH, f"{name} imported from outside bench/"
    return module


@pytest.mark.parametrize("name", COMPARATORS)
@pytest.mark.usefixtures("bench_modules")
def test_each_comparator_lives_in_bench_and_imports(name):
    """The comparators the figures measure Wess against are the repository's own files."""
    assert (BENCH / f"{name}.py").is_file()
    bench_module(name)


@pytest.mark.usefixtures("bench_modules")
def test_the_figures_find_their_comparators_in_bench():
    """P1 imports naive_invoke from bench/, the floor server runs the app in bench/."""
    figures = bench_module("figures")
    assert figures.BENCH == BENCH
    p1 = bench_module("p1_invoke")
    assert p1.naive_invoke is bench_module("naive_invoke")
    bench_module("servers")


@pytest.mark.usefixtures("bench_modules")
def test_naive_fresh_calls_sum():
    """The P1 comparator runs (three calls, no timing asserted)."""
    assert bench_module("naive_invoke").naive_fresh(3) > 0


@pytest.mark.usefixtures("bench_modules")
async def test_the_floor_app_answers_the_sum():
    """The P2/P3 floor answers POST /run [1,2] with {"results":[3]}, as its reference does."""
    transport = httpx.ASGITransport(app=bench_module("floor_app").app)
    async with httpx.AsyncClient(transport=transport, base_url="http://floor") as client:
        answer = await client.post("/run", content=b"[1,2]")
    assert answer.status_code == 200
    assert answer.json() == {"results": [3]}
