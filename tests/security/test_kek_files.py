"""KEK files: the keyring a rotation seals with is found by the new KEK's id."""

from __future__ import annotations

from pathlib import Path

import pytest

from wess.errors import ConfigError
from wess.files import write_file
from wess.security.crypto import generate_kek
from wess.security.keyfiles import begin_rotation, keyring_sealing_with, load_keyring


def test_the_keyring_of_a_rotation_in_progress_is_found_by_the_new_kek_id(tmp_path: Path) -> None:
    """While ``kek.next`` waits, its id names a keyring that seals with it and still
    opens with the old KEK: what the Writer rewraps under."""
    path = tmp_path / "kek"
    write_file(path, generate_kek().encode())
    old = load_keyring(path)
    rotation = begin_rotation(path, old)
    keyring = keyring_sealing_with(path, rotation.new.id)
    assert keyring.current.id == rotation.new.id
    assert [kek.id for kek in keyring.retired()] == [old.current.id]
    sealed = old.seal(b"payload", b"aad")
    assert keyring.open(sealed, b"aad") == b"payload"


def test_an_unknown_kek_id_is_a_config_error_naming_it(tmp_path: Path) -> None:
    """No file holds the id: the error names it and the key file."""
    path = tmp_path / "kek"
    write_file(path, generate_kek().encode())
    with pytest.raises(ConfigError, match=r"kek-0000 .*|.*kek-0000"):
        keyring_sealing_with(path, "kek-0000")


def test_a_second_rotation_cut_short_keeps_the_first_ones_key(tmp_path: Path) -> None:
    """Two rotations begun and never finished: the first ``kek.next`` (which may already
    seal values) is retired, not overwritten, so every KEK is still on disk."""
    path = tmp_path / "kek"
    write_file(path, generate_kek().encode())
    first = begin_rotation(path, load_keyring(path))
    sealed_by_first = first.keyring.seal(b"payload", b"aad")
    second = begin_rotation(path, load_keyring(path))
    assert second.new.id != first.new.id
    keyring = load_keyring(path)
    assert keyring.open(sealed_by_first, b"aad") == b"payload"
    assert {kek.id for kek in keyring.retired()} >= {first.new.id, second.new.id}
