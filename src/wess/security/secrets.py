"""The server secret: 32 random bytes kept in the data directory, mode 0600.

One secret, many keys: each use (AOT artifact authentication, API key hashing, ...)
derives its own key with HKDF-SHA256 and a distinct label, so a key leaked from one
use says nothing about another.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from wess.errors import ConfigError

SECRET_FILE = "server.secret"  # noqa: S105 (a file name, not a secret)
SECRET_BYTES = 32


class ServerSecret:
    """Load-or-create the secret once at start-up; derive per-purpose keys from it."""

    def __init__(self, material: bytes) -> None:
        if len(material) != SECRET_BYTES:
            raise ConfigError(f"the server secret must be {SECRET_BYTES} bytes")
        self._material = material

    @classmethod
    def load_or_create(cls, directory: Path) -> ServerSecret:
        """Read ``<directory>/server.secret``; create it (0600) on first start."""
        path = directory / SECRET_FILE
        directory.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls._read(path)
        try:
            os.write(fd, secrets.token_bytes(SECRET_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        return cls._read(path)

    @classmethod
    def _read(cls, path: Path) -> ServerSecret:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigError(f"{path} is readable by other users (mode {mode:o}); chmod 600 it")
        material = path.read_bytes()
        if len(material) != SECRET_BYTES:
            raise ConfigError(
                f"{path} holds {len(material)} bytes, not {SECRET_BYTES}: it is damaged; "
                "restore it from a backup (keys derived from it, such as API key hashes, "
                "depend on it)"
            )
        return cls(material)

    def derive(self, label: str) -> bytes:
        """A 32-byte key for one purpose (``label``), stable for this secret."""
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=f"wess/{label}".encode()
        ).derive(self._material)
