"""The server secret: created once, private, stable, one key per purpose."""

from __future__ import annotations

import os
import stat

import pytest

from wess.errors import ConfigError
from wess.security.secrets import SECRET_FILE, ServerSecret


def test_created_once_with_mode_0600_and_stable(tmp_path):
    """First start creates a 0600 file; later starts derive the same keys from it."""
    first = ServerSecret.load_or_create(tmp_path)
    path = tmp_path / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = ServerSecret.load_or_create(tmp_path)
    assert first.derive("artifacts") == again.derive("artifacts")


def test_each_purpose_gets_its_own_key(tmp_path):
    """Keys derived for different labels differ, and differ between secrets."""
    secret = ServerSecret.load_or_create(tmp_path / "a")
    other = ServerSecret.load_or_create(tmp_path / "b")
    assert secret.derive("artifacts") != secret.derive("api-keys")
    assert secret.derive("artifacts") != other.derive("artifacts")
    assert len(secret.derive("artifacts")) == 32


def test_refuses_a_world_readable_or_damaged_secret(tmp_path):
    """A secret others can read, or of the wrong size, stops start-up with a clear error."""
    ServerSecret.load_or_create(tmp_path)
    path = tmp_path / SECRET_FILE
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        ServerSecret.load_or_create(tmp_path)
    os.chmod(path, 0o600)
    path.write_bytes(b"short")
    with pytest.raises(ConfigError, match="damaged"):
        ServerSecret.load_or_create(tmp_path)
