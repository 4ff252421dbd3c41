"""Envelope encryption: sealing, refusing every tamper, re-wrapping, and KEK files."""

from __future__ import annotations

import base64
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wess.errors import ConfigError, IntegrityError
from wess.security.crypto import (
    KEY_BYTES,
    Kek,
    Keyring,
    associated_data,
    generate_kek,
    load_kek,
)

OLD, NEW = Kek(b"o" * 32), Kek(b"n" * 32)
AAD = associated_data("3f1c7a2e-0000-4000-8000-000000000001", "sha256:abc")


def test_seal_then_open_returns_the_plaintext():
    """What is sealed for a record opens for that record, byte for byte."""
    keyring = Keyring(NEW)
    blob = keyring.seal(b"\x00asm payload", AAD)
    assert keyring.open(blob, AAD) == b"\x00asm payload"
    assert b"payload" not in blob


def test_each_seal_uses_a_fresh_data_key_and_nonce():
    """Sealing the same bytes twice gives unrelated blobs."""
    keyring = Keyring(NEW)
    assert keyring.seal(b"same", AAD) != keyring.seal(b"same", AAD)


def test_blobs_cannot_be_moved_to_another_record():
    """A blob opened with another record's associated data fails."""
    keyring = Keyring(NEW)
    blob = keyring.seal(b"module a", associated_data("a", "sha256:1"))
    with pytest.raises(IntegrityError):
        keyring.open(blob, associated_data("b", "sha256:1"))


def test_associated_data_parts_cannot_be_shifted():
    """('ab', 'c') and ('a', 'bc') are different associated data."""
    assert associated_data("ab", "c") != associated_data("a", "bc")


@given(data=st.data())
def test_any_flipped_bit_is_refused(data):
    """Flipping any bit anywhere in a blob (header, wrapped key, nonce, payload) fails to open."""
    keyring = Keyring(NEW, [OLD])
    blob = bytearray(keyring.seal(b"payload bytes", AAD))
    index = data.draw(st.integers(0, len(blob) - 1))
    blob[index] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(IntegrityError):
        keyring.open(bytes(blob), AAD)


@given(cut=st.integers(0, 200))
def test_truncated_blobs_are_refused(cut):
    """A blob cut short anywhere fails with IntegrityError, never another exception."""
    keyring = Keyring(NEW)
    blob = keyring.seal(b"payload bytes", AAD)
    with pytest.raises(IntegrityError):
        keyring.open(blob[: min(cut, len(blob) - 1)], AAD)


def test_wrapped_keys_cannot_be_swapped_between_blobs():
    """One blob's header and wrapped key with another blob's payload fails to open."""
    keyring = Keyring(NEW)
    first, second = keyring.seal(b"first", AAD), keyring.seal(b"second", AAD)
    split = len(first) - len(b"first") - 16 - 12
    with pytest.raises(IntegrityError):
        keyring.open(first[:split] + second[split:], AAD)


def test_rewrap_changes_only_the_wrapped_key():
    """Re-wrapping under the new KEK keeps the payload bytes and opens with the new keyring."""
    blob = Keyring(OLD).seal(b"payload", AAD)
    rotated = Keyring(NEW, [OLD])
    rewrapped = rotated.rewrap(blob)
    assert rotated.kek_id_of(rewrapped) == NEW.id
    assert rewrapped[-(len(b"payload") + 16 + 12) :] == blob[-(len(b"payload") + 16 + 12) :]
    assert Keyring(NEW).open(rewrapped, AAD) == b"payload"
    assert rotated.rewrap(rewrapped) is rewrapped


def test_a_blob_of_a_kek_missing_from_the_keyring_names_the_kek():
    """Opening without the KEK that wrapped the data key fails and says which KEK is missing."""
    blob = Keyring(OLD).seal(b"payload", AAD)
    with pytest.raises(IntegrityError, match=OLD.id):
        Keyring(NEW).open(blob, AAD)


def test_kek_ids_are_fingerprints():
    """A KEK's id depends on the key only; it never reveals the key."""
    assert Kek(b"o" * 32).id == OLD.id != NEW.id
    assert OLD.id.startswith("kek-")
    assert "o" * 8 not in OLD.id
    assert "oooo" not in repr(OLD)


def write_kek(path, text, mode=0o600):
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_generated_keks_load_back(tmp_path):
    """generate_kek's text, saved 0600, loads as a 32-byte KEK; two are never equal."""
    text = generate_kek()
    assert len(base64.b64decode(text)) == KEY_BYTES
    assert generate_kek() != text
    kek = load_kek(write_kek(tmp_path / "kek", text))
    assert kek.key == base64.b64decode(text)


@pytest.mark.parametrize(
    ("text", "mode", "message"),
    [
        (base64.b64encode(b"k" * 32).decode(), 0o644, "chmod 600"),
        (base64.b64encode(b"k" * 16).decode(), 0o600, "16-byte key"),
        ("not base64!", 0o600, "base64"),
    ],
)
def test_bad_kek_files_are_config_errors(tmp_path, text, mode, message):
    """A KEK file others can read, of the wrong length or not base64 stops start-up."""
    with pytest.raises(ConfigError, match=message):
        load_kek(write_kek(tmp_path / "kek", text, mode))


def test_a_missing_kek_file_is_a_config_error(tmp_path):
    """An absent KEK file is a ConfigError that names the file."""
    with pytest.raises(ConfigError, match="kek"):
        load_kek(tmp_path / "kek")
