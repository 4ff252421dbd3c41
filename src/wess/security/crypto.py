"""Envelope encryption at rest: AES-256-GCM, a data key per record, wrapped by a KEK.

Each record is encrypted under its own random data key (DEK); the DEK is stored
beside it, encrypted ("wrapped") under a key-encryption key (KEK) named by its id.
Rotating the KEK re-wraps the 32-byte DEKs and never touches the payloads.

A sealed blob::

    version (1) | kek id length (1) | kek id | wrap nonce (12) | wrapped DEK (48)
                | nonce (12) | ciphertext + tag

The payload's associated data is the version and the caller's ``aad`` (say module id
and digest), so a blob moved to another record fails to open. The wrapped DEK's
associated data is the header (version and KEK id). Any change to any byte makes
``open`` raise ``IntegrityError``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wess.errors import ConfigError, IntegrityError

VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
WRAPPED_BYTES = KEY_BYTES + TAG_BYTES


@dataclass(frozen=True, slots=True)
class Kek:
    """A key-encryption key. Its id is a fingerprint of the key, stable across renames."""

    key: bytes = field(repr=False)
    id: str = field(init=False)

    def __post_init__(self) -> None:
        if len(self.key) != KEY_BYTES:
            raise ConfigError(f"a key-encryption key must be {KEY_BYTES} bytes")
        fingerprint = hashlib.sha256(b"wess/kek-id\x00" + self.key).hexdigest()[:16]
        object.__setattr__(self, "id", f"kek-{fingerprint}")


def generate_kek() -> str:
    """A new KEK as the text of a KEK file (base64 of 32 random bytes)."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii") + "\n"


def load_kek(path: Path) -> Kek:
    """Read a KEK file: private to its owner (no group/other bits) and 32 bytes of base64."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the key-encryption key {path}: {exc}") from None
    if mode & 0o077:
        raise ConfigError(f"{path} is readable by other users (mode {mode:o}); chmod 600 it")
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except binascii.Error:
        raise ConfigError(f"{path} does not hold base64 text") from None
    if len(key) != KEY_BYTES:
        raise ConfigError(f"{path} holds a {len(key)}-byte key; a KEK is {KEY_BYTES} bytes")
    return Kek(key)


def associated_data(*parts: str) -> bytes:
    """Unambiguous associated data from text parts (``("ab", "c") != ("a", "bc")``)."""
    out = bytearray()
    for part in parts:
        encoded = part.encode("utf-8")
        out += len(encoded).to_bytes(4, "big") + encoded
    return bytes(out)


class Keyring:
    """The current KEK (for sealing) and retired ones (for opening older blobs)."""

    def __init__(self, current: Kek, retired: Iterable[Kek] = ()) -> None:
        self.current = current
        self._keks = {kek.id: kek for kek in retired}
        self._keks[current.id] = current

    def retired(self) -> list[Kek]:
        """Every KEK held for opening only (not the current one)."""
        return [kek for kek_id, kek in self._keks.items() if kek_id != self.current.id]

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """Encrypt ``plaintext`` for the record that ``aad`` identifies."""
        dek = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        nonce = secrets.token_bytes(NONCE_BYTES)
        ciphertext = AESGCM(dek).encrypt(nonce, plaintext, _payload_aad(aad))
        return self._wrap(dek) + nonce + ciphertext

    def open(self, blob: bytes, aad: bytes) -> bytes:
        """The plaintext of ``blob``; ``IntegrityError`` if any byte or ``aad`` differs."""
        dek, rest = self._unwrap(blob)
        nonce, ciphertext = rest[:NONCE_BYTES], rest[NONCE_BYTES:]
        if len(nonce) < NONCE_BYTES or len(ciphertext) < TAG_BYTES:
            raise IntegrityError("the sealed blob is truncated")
        try:
            return AESGCM(dek).decrypt(nonce, ciphertext, _payload_aad(aad))
        except InvalidTag:
            raise IntegrityError(
                "the sealed blob does not authenticate (altered, or another record's)"
            ) from None

    def rewrap(self, blob: bytes) -> bytes:
        """``blob`` with its DEK wrapped under the current KEK; the payload is untouched."""
        if _kek_id(blob) == self.current.id:
            return blob
        dek, rest = self._unwrap(blob)
        return self._wrap(dek) + rest

    def kek_id_of(self, blob: bytes) -> str:
        """Which KEK wrapped ``blob``'s data key (for rotation progress)."""
        return _kek_id(blob)

    def _wrap(self, dek: bytes) -> bytes:
        header = _header(self.current.id)
        nonce = secrets.token_bytes(NONCE_BYTES)
        return header + nonce + AESGCM(self.current.key).encrypt(nonce, dek, header)

    def _unwrap(self, blob: bytes) -> tuple[bytes, bytes]:
        kek_id = _kek_id(blob)
        kek = self._keks.get(kek_id)
        if kek is None:
            raise IntegrityError(
                f"sealed with key-encryption key {kek_id!r}, which is not in the keyring "
                "(a retired KEK file missing from the configuration, or a tampered blob)"
            )
        header = _header(kek_id)
        start = len(header)
        nonce = blob[start : start + NONCE_BYTES]
        wrapped = blob[start + NONCE_BYTES : start + NONCE_BYTES + WRAPPED_BYTES]
        if len(wrapped) != WRAPPED_BYTES:
            raise IntegrityError("the sealed blob is truncated")
        try:
            dek = AESGCM(kek.key).decrypt(nonce, wrapped, header)
        except InvalidTag:
            raise IntegrityError("the wrapped data key does not authenticate") from None
        return dek, blob[start + NONCE_BYTES + WRAPPED_BYTES :]


def _header(kek_id: str) -> bytes:
    encoded = kek_id.encode("ascii")
    return bytes((VERSION, len(encoded))) + encoded


def _kek_id(blob: bytes) -> str:
    if len(blob) < 2 or blob[0] != VERSION:
        raise IntegrityError("not a sealed blob of a known version")
    length = blob[1]
    raw = blob[2 : 2 + length]
    if len(raw) != length or not raw.isascii():
        raise IntegrityError("the sealed blob's header is damaged")
    return raw.decode("ascii")


def _payload_aad(aad: bytes) -> bytes:
    return bytes((VERSION,)) + aad
