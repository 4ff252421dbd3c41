"""The server secret: created once, private, stable, one key per purpose."""

from __future__ import annotations

import errno
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


def test_the_secret_is_never_written_in_place(tmp_path, monkeypatch):
    """While the secret's bytes are written, ``server.secret`` does not exist yet: the file
    appears whole (written aside, synced, then linked into place)."""
    path = tmp_path / SECRET_FILE
    seen: list[bool] = []
    real_write = os.write

    def spy(fd, data):
        seen.append(path.exists())
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", spy)
    ServerSecret.load_or_create(tmp_path)
    assert seen == [False]
    assert len(path.read_bytes()) == 32


def test_a_first_start_cut_short_leaves_no_file_and_the_next_start_succeeds(tmp_path, monkeypatch):
    """A failure while the secret is written (here a full disk) is a ConfigError naming the
    file, and leaves nothing behind that would block the next start."""

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(ConfigError, match=f"cannot create the server secret {tmp_path}"):
        ServerSecret.load_or_create(tmp_path)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    secret = ServerSecret.load_or_create(tmp_path)
    assert secret.derive("x") == ServerSecret.load_or_create(tmp_path).derive("x")


def test_an_empty_secret_left_by_an_old_crash_is_named_with_what_to_do(tmp_path):
    """An empty file (what versions writing in place left after a crash) stops start-up
    with the file's name and the way out; it is not replaced behind the operator's back,
    since API key hashes may depend on the secret it held."""
    path = tmp_path / SECRET_FILE
    path.touch(mode=0o600)
    with pytest.raises(ConfigError) as caught:
        ServerSecret.load_or_create(tmp_path)
    message = str(caught.value)
    assert f"the server secret {path} is empty" in message
    assert "delete the file and start again" in message
    assert "restore it from a backup" in message
    assert path.read_bytes() == b""
