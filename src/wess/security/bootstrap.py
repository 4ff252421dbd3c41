"""The first admin key: minted on a first start, handed over in ``<data dir>/admin.key``.

The token goes to a file only its owner can read, never to the log or the console:
logs are shipped and kept, and a token there would be a standing admin credential.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path

import structlog

from wess.errors import ConfigError
from wess.models import DEFAULT_NAMESPACE, ApiKey, Role
from wess.security.tokens import issue_key

ADMIN_KEY_FILE = "admin.key"
ADMIN_KEY_NAME = "bootstrap admin"

logger = structlog.get_logger(__name__)


async def bootstrap_admin(
    *,
    existing: Callable[[], Awaitable[Sequence[ApiKey]]],
    store: Callable[[ApiKey], Awaitable[None]],
    hash_key: bytes,
    data_dir: Path,
    now: datetime,
    namespace: str = DEFAULT_NAMESPACE,
) -> ApiKey | None:
    """Create an admin key and its token file if ``existing()`` holds no admin key yet;
    ``store`` keeps the new record.

    Returns the new record, or None when an admin key already exists. The file is
    written before the record is stored, so a crash leaves at worst a useless file,
    never a stored admin key whose token nobody has.
    """
    if any(key.role is Role.ADMIN for key in await existing()):
        return None
    issued = issue_key(
        hash_key=hash_key, namespace=namespace, role=Role.ADMIN, name=ADMIN_KEY_NAME, now=now
    )
    path = write_token_file(data_dir / ADMIN_KEY_FILE, issued.token)
    try:
        await store(issued.key)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    logger.info("admin key created", key_id=issued.key.id, token_file=str(path))
    return issued.key


def write_token_file(path: Path, token: str) -> Path:
    """Write ``token`` to ``path`` (mode 0600) all at once; refuse to replace a file.

    The bytes go to a private temporary file created with ``O_CREAT | O_EXCL`` and mode
    0600 (so no other user can read it at any moment, whatever the umask), which is
    then hard-linked into place: readers see the whole token or no file at all.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        try:
            os.write(fd, f"{token}\n".encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)
        except FileExistsError:
            raise ConfigError(
                f"{path} already exists; move it away to mint a new admin key"
            ) from None
    finally:
        temporary.unlink(missing_ok=True)
    _sync_directory(path.parent)
    return path


def _sync_directory(directory: Path) -> None:
    # Makes the new directory entry durable; some file systems cannot open a directory.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
