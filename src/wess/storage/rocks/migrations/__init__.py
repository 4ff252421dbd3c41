"""Moving a RocksDB store from one layout to the next: ordered steps, one per module.

The layout a store holds is its format marker (``layout``); ``check_format`` tells
start-up whether this Wess reads it, must migrate it first (``MigrationRequired``,
naming the command), or cannot (a newer or foreign directory). ``migrate`` applies the
steps from the store's format to the current one, offline (the server stopped: RocksDB
allows one process per directory). Every step is idempotent and resumable: it records
its progress in the same synced batches as the data it moves, and its last batch sets
the new format, so a crash anywhere leaves a store that the next ``migrate`` finishes,
with nothing lost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rocksdict import Rdict

from wess.errors import MigrationRequired, StorageUnavailable
from wess.storage.rocks.database import (
    UNLIMITED_OPEN_FILES,
    close,
    open_database,
    read_format,
    write_format_file,
)
from wess.storage.rocks.layout import FORMAT
from wess.storage.rocks.migrations import v2_column_families, v3_revisions


@dataclass(frozen=True, slots=True)
class Step:
    """One migration: from ``source`` format to ``target``; ``apply`` does it, blocking."""

    source: bytes
    target: bytes
    summary: str
    apply: Callable[[Rdict], int]
    """Moves the data; answers how many records it moved."""


STEPS: tuple[Step, ...] = (
    Step(
        source=v2_column_families.SOURCE,
        target=v2_column_families.TARGET,
        summary=v2_column_families.SUMMARY,
        apply=v2_column_families.apply,
    ),
    Step(
        source=v3_revisions.SOURCE,
        target=v3_revisions.TARGET,
        summary=v3_revisions.SUMMARY,
        apply=v3_revisions.apply,
    ),
)
"""Every step, in order: each one's target is the next one's source."""


def plan(found: bytes | None) -> list[Step]:
    """The steps that take a store of format ``found`` to the current one."""
    if found is None or found == FORMAT:
        return []
    steps: list[Step] = []
    current = found
    for step in STEPS:
        if step.source == current:
            steps.append(step)
            current = step.target
    return steps if current == FORMAT else []


def check_format(found: bytes | None, path: str) -> None:
    """Nothing, when this Wess reads a store of format ``found``; else the error that
    says why not and what to do."""
    if found is None or found == FORMAT:
        return
    if plan(found):
        raise MigrationRequired(
            f"the store at {path} is in format {found.decode(errors='replace')}; this Wess "
            f"reads {FORMAT.decode()}. Stop every server using it, back it up, and run "
            f"`wess migrate --data-dir {path}` (`--dry-run` shows the steps).",
            path=path,
        )
    if found == b"":
        raise StorageUnavailable(
            f"{path} holds data but no Wess format marker: it is not a Wess store", path=path
        )
    raise StorageUnavailable(
        f"the store at {path} is in format {found.decode(errors='replace')}, which this Wess "
        f"does not know (it reads {FORMAT.decode()}): it was written by a newer Wess. Run "
        "that version, or restore a backup written by this one.",
        path=path,
    )


@dataclass(frozen=True, slots=True)
class Applied:
    step: Step
    records: int


def migrate(
    path: str, *, dry_run: bool = False, max_open_files: int = UNLIMITED_OPEN_FILES
) -> tuple[bytes | None, list[Step], list[Applied]]:
    """Bring the store at ``path`` to the current format (blocking, offline).

    Answers the format found, the steps planned and those applied (none with
    ``dry_run``). ``StorageUnavailable`` for a store no step leads from.
    """
    db = open_database(path, max_open_files=max_open_files)
    try:
        found = read_format(db, path)
        steps = plan(found)
        if not steps:
            check_format(found, path)  # raises unless it is current already
            return found, [], []
        if dry_run:
            return found, steps, []
        applied = [Applied(step, step.apply(db)) for step in steps]
        write_format_file(path)
        return found, steps, applied
    finally:
        close(db)
