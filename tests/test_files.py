"""Files written whole or not at all (wess.files): content, mode, replace or refuse, and
what a failure at each step leaves behind."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from wess.files import sync_directory, write_file


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def failing(error: OSError) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise error

    return fail


def test_writes_the_bytes_with_the_mode_asked_for(tmp_path):
    """The file holds the bytes and exactly the mode given: private by default, and
    neither widened nor narrowed by the umask."""
    write_file(tmp_path / "secret", b"\x00payload\xff")
    assert (tmp_path / "secret").read_bytes() == b"\x00payload\xff"
    assert mode_of(tmp_path / "secret") == 0o600
    with umask(0o077):
        write_file(tmp_path / "shared", b"x", mode=0o640)
    assert mode_of(tmp_path / "shared") == 0o640
    assert names(tmp_path) == ["secret", "shared"]


def test_the_temporary_file_is_private_from_its_first_byte(tmp_path, monkeypatch):
    """Even with a permissive umask, the bytes are written to a file only its owner can read."""
    modes: list[int] = []
    real_write = os.write

    def spy(fd: int, data: Any) -> int:
        modes.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", spy)
    with umask(0o000):
        write_file(tmp_path / "token", b"t" * 10)
    assert modes == [0o600]


def test_replaces_an_existing_file(tmp_path):
    """By default a new version replaces the old one."""
    path = tmp_path / "kek.next"
    write_file(path, b"old")
    write_file(path, b"new")
    assert path.read_bytes() == b"new"
    assert names(tmp_path) == ["kek.next"]


def test_exclusive_refuses_to_replace_and_leaves_the_file_as_it_was(tmp_path):
    """``exclusive=True`` on an existing file: FileExistsError, the old bytes stay."""
    path = tmp_path / "admin.key"
    write_file(path, b"first", exclusive=True)
    with pytest.raises(FileExistsError):
        write_file(path, b"second", exclusive=True)
    assert path.read_bytes() == b"first"
    assert names(tmp_path) == ["admin.key"]


def test_exclusive_never_clobbers_a_file_created_meanwhile(tmp_path, monkeypatch):
    """Another process creating the file while ours is being written keeps its file: the
    refusal happens when the name is taken (a link), not at a check made earlier."""
    path = tmp_path / "server.secret"
    real_fsync = os.fsync

    def concurrent_creator(fd: int) -> None:
        if not path.exists():
            path.write_bytes(b"theirs")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", concurrent_creator)
    with pytest.raises(FileExistsError):
        write_file(path, b"ours", exclusive=True)
    assert path.read_bytes() == b"theirs"
    assert names(tmp_path) == ["server.secret"]


@pytest.mark.parametrize(
    ("step", "error", "before"),
    [
        ("write", errno.ENOSPC, b"old"),  # the disk fills up mid-write
        ("fsync", errno.EIO, b"old"),
        ("replace", errno.EIO, b"old"),  # written and synced, then the rename fails
        ("write", errno.ENOSPC, None),
        ("link", errno.EIO, None),  # exclusive: written and synced, then the link fails
    ],
)
def test_a_failure_at_any_step_leaves_the_old_state_and_no_temporary_file(
    tmp_path, monkeypatch, step, error, before
):
    """Whatever step fails, the error surfaces, the target is as it was (the old bytes,
    or still absent for an exclusive write) and the temporary file is gone."""
    path = tmp_path / "target"
    if before is not None:
        path.write_bytes(before)
    monkeypatch.setattr(os, step, failing(OSError(error, os.strerror(error))))
    with pytest.raises(OSError, match=os.strerror(error)):
        write_file(path, b"new", exclusive=before is None)
    if before is None:
        assert names(tmp_path) == []
    else:
        assert path.read_bytes() == before
        assert names(tmp_path) == ["target"]


def test_the_directory_is_synced_after_the_file_is_in_place(tmp_path, monkeypatch):
    """The new name is made durable too: the last fsync is of the target's directory."""
    synced: list[tuple[bool, bool]] = []
    real_fsync = os.fsync
    path = tmp_path / "admin.key"

    def spy(fd: int) -> None:
        synced.append((stat.S_ISDIR(os.fstat(fd).st_mode), path.exists()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    write_file(path, b"token", exclusive=True)
    assert synced == [(False, False), (True, True)]


def test_a_directory_that_cannot_be_synced_is_skipped_but_io_errors_raise(tmp_path, monkeypatch):
    """File systems that cannot fsync a directory answer EINVAL: nothing to do there. An
    I/O error is a real failure and surfaces."""
    monkeypatch.setattr(os, "fsync", failing(OSError(errno.EINVAL, "Invalid argument")))
    sync_directory(tmp_path)
    monkeypatch.setattr(os, "fsync", failing(OSError(errno.EIO, "I/O error")))
    with pytest.raises(OSError, match="I/O error"):
        sync_directory(tmp_path)
