"""The server secret: 32 random bytes kept in the data directory, mode 0600.

One secret, many keys: each use (AOT artifact authentication, API key hashing, ...)
derives its own key with HKDF-SHA256 and a distinct label, so a key leaked from one
use says nothing about another.
"""

from __future__ import annotations

import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from wess.errors import ConfigError
from wess.files import write_file

SECRET_FILE = "server.secret"  # noqa: S105 (a file name, not a secret)
SECRET_BYTES = 32


class ServerSecret:
    """Load-or-create the secret once at start-up; derive per-purpose keys from it."""

    def __init__(self, material: bytes) -> None:
        if len(material) != SECRET_BYTES:
            raise ConfigError(f"the server secret must be {SECRET_BYTES} bytes")
        self._material = material

    @classmethod
    def load_or_create(cls, directory: Path, *, name: str = SECRET_FILE) -> ServerSecret:
        """Read ``<directory>/<name>`` (``server.secret``); create it (0600) on first start.

        The file is created whole or not at all (``wess.files.write_file``, exclusive:
        two servers starting at once on one directory keep the first one's secret), so
        a crash during the first start leaves no file and the next start creates it.

        A file of the wrong size is never replaced: API key hashes and artifact seals
        were derived from the secret it held, and a new secret would silently lock out
        every key. An empty file is what versions before the atomic write could leave
        after a crash during their first start; start-up stops with a ``ConfigError``
        that names the file and says what to do.
        """
        path = directory / name
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():
            try:
                write_file(path, secrets.token_bytes(SECRET_BYTES), mode=0o600, exclusive=True)
            except FileExistsError:
                pass  # another process created it just now: read theirs
            except OSError as exc:
                raise ConfigError(f"cannot create the server secret {path}: {exc}") from exc
        return cls._read(path)

    @classmethod
    def _read(cls, path: Path) -> ServerSecret:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigError(f"{path} is readable by other users (mode {mode:o}); chmod 600 it")
        material = path.read_bytes()
        if not material:
            raise ConfigError(
                f"the server secret {path} is empty: an earlier start was probably cut "
                "short while creating it. If no API key was ever minted with this data "
                "directory (its first start failed), delete the file and start again. "
                "Otherwise restore it from a backup: API key hashes depend on it."
            )
        if len(material) != SECRET_BYTES:
            raise ConfigError(
                f"the server secret {path} holds {len(material)} bytes, not {SECRET_BYTES}: "
                "it is damaged; restore it from a backup (keys derived from it, such as "
                "API key hashes, depend on it)"
            )
        return cls(material)

    def derive(self, label: str) -> bytes:
        """A 32-byte key for one purpose (``label``), stable for this secret."""
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=f"wess/{label}".encode()
        ).derive(self._material)
