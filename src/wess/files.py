"""Files written whole or not at all: the one way Wess writes a file it must not lose.

``write_file`` writes the bytes to a temporary file in the target's directory (created
with the final mode, so the content is never more readable than asked, whatever the
umask), syncs it, moves it over the target and syncs the directory. A crash at any
moment leaves either the old file or the new one, never an empty or half-written
file, and a returned call means the new file survives a power loss. The temporary
file is removed when anything fails.

The server secret, the first admin key's token file and the key-encryption key files
are written this way. A core module: it imports nothing of Wess.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path

TEMPORARY_SUFFIX = ".tmp"
"""Temporary files are ``.<name>.<random>.tmp`` beside the target."""
_UNSYNCABLE = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EBADF})
"""What fsync of a directory answers on file systems that cannot sync one."""


def write_file(path: Path, data: bytes, *, mode: int = 0o600, exclusive: bool = False) -> None:
    """Write ``data`` to ``path`` atomically and durably, with permissions ``mode``.

    ``exclusive=True`` refuses to replace an existing file: ``FileExistsError``, and the
    file found there is left as it is. The finished temporary file is hard-linked to
    ``path`` (``link`` fails if the name exists, atomically), rather than checked for
    and then renamed: a file another process creates between a check and a rename
    would be clobbered, a link cannot clobber it. This needs a file system with hard
    links (any POSIX local one); without them ``exclusive`` writes fail with the
    ``OSError`` of ``link``. The directory must exist.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}{TEMPORARY_SUFFIX}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        try:
            os.fchmod(fd, mode)  # exactly ``mode``: the umask only ever removed bits
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if exclusive:
            os.link(temporary, path)
        else:
            os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()  # after ``replace`` it is gone already
    sync_directory(path.parent)


def sync_directory(directory: Path) -> None:
    """Make the directory's entries (a new, renamed or removed file) durable.

    A directory that cannot be opened, or whose file system cannot sync one, is
    skipped: there is nothing more to do there. Other failures (an I/O error) raise.
    """
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _UNSYNCABLE:
            raise
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def make_private(directory: Path) -> list[Path]:
    """Create ``directory`` (mode 0700) or take away group and other access from it and
    everything in it: directories 0700, files 0600 at most. Answers what was changed.

    Wess's files (module bytes when encryption is off, keys, the audit log) are no one
    else's business on the machine; RocksDB creates its files with the process umask.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    changed: list[Path] = []
    for path in [directory, *directory.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        if mode & 0o077:
            os.chmod(path, stat.S_IMODE(mode) & 0o700)
            changed.append(path)
    return changed
