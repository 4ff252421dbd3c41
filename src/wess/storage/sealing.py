"""Encryption at rest of stored values: module bytes and AOT artifacts, one envelope each.

A sealed value is ``MAGIC`` followed by ``Keyring.seal(plaintext, aad)``. ``MAGIC`` can
start neither valid wasm (``\\0asm``) nor a runtime artifact (``wess-aot``), and a
store without a keyring refuses to write plain bytes that start with it, so the first
eight bytes tell, unambiguously, a sealed value from one stored in plain text before
encryption was turned on. Those stay readable, and ``reseal`` seals them.

The associated data binds each blob to its record: ``("wasm", module id, digest)`` for
module bytes, ``("artifact", module id, digest, flavor)`` for an artifact. A blob
copied to another module, another digest, another flavor or the other kind of value
fails to open. Every failure to open is an ``IntegrityError`` naming the module; the
digest of module bytes is still checked, on the plaintext, by ``verified_wasm``.

Pure functions: the backends hold the keyring and call these on their own threads.
"""

from __future__ import annotations

from uuid import UUID

from wess.errors import IntegrityError
from wess.security.crypto import Keyring, associated_data

MAGIC = b"wess-enc"
MARKER = b"aes-256-gcm/1"
"""What the backends record once the first sealed value is stored."""
ENCRYPTED_STORE = (
    "this store is encrypted; configure security.encryption_key_file "
    "(and any retired key files) to open it"
)


def wasm_aad(module_id: UUID, digest: str) -> bytes:
    return associated_data("wasm", str(module_id), digest)


def artifact_aad(module_id: UUID, digest: str, flavor: str) -> bytes:
    return associated_data("artifact", str(module_id), digest, flavor)


def is_sealed(stored: bytes) -> bool:
    return stored[: len(MAGIC)] == MAGIC


def seal(keyring: Keyring | None, plaintext: bytes, aad: bytes) -> bytes:
    """The stored form of ``plaintext``: sealed under ``keyring.current``, or plain
    without a keyring. Raises ``ValueError`` (before anything is written) for plain
    bytes that would read back as sealed."""
    if keyring is not None:
        return MAGIC + keyring.seal(plaintext, aad)
    if is_sealed(plaintext):
        raise ValueError(f"plain values may not begin with {MAGIC!r}: it marks sealed ones")
    return bytes(plaintext)


def unseal(
    keyring: Keyring | None, stored: bytes, aad: bytes, *, module_id: UUID | str, what: str
) -> bytes:
    """The plaintext of ``stored`` (plain values as they are).

    ``IntegrityError`` naming ``what`` and the module if a sealed value does not open:
    altered, moved from another record, sealed under a KEK the keyring lacks, or there
    is no keyring at all.
    """
    if not is_sealed(stored):
        return stored
    if keyring is None:
        raise IntegrityError(
            f"{what} of module {module_id} is encrypted, and no key-encryption key is configured",
            module_id=str(module_id),
        )
    try:
        return keyring.open(stored[len(MAGIC) :], aad)
    except IntegrityError as exc:
        raise IntegrityError(
            f"{what} of module {module_id} cannot be decrypted: {exc.detail}",
            module_id=str(module_id),
        ) from None


def reseal(
    keyring: Keyring, stored: bytes, aad: bytes, *, module_id: UUID | str, what: str
) -> bytes | None:
    """``stored`` with its data key wrapped under ``keyring.current`` (the payload is not
    touched), or sealed if it was plain; None when it is sealed under the current KEK
    already, so a rotation run again after a crash skips what it did."""
    if not is_sealed(stored):
        return MAGIC + keyring.seal(stored, aad)
    blob = stored[len(MAGIC) :]
    try:
        if keyring.kek_id_of(blob) == keyring.current.id:
            return None
        return MAGIC + keyring.rewrap(blob)
    except IntegrityError as exc:
        raise IntegrityError(
            f"{what} of module {module_id} cannot be re-wrapped: {exc.detail}",
            module_id=str(module_id),
        ) from None


def check_opens(
    keyring: Keyring, stored: bytes, known: set[str], *, module_id: UUID | str, what: str
) -> None:
    """Raise ``IntegrityError`` unless ``keyring`` can unwrap the data key of ``stored``
    (plain values pass): what a rotation checks before it changes anything. Each KEK is
    tried once; ``known`` gathers those that worked."""
    if not is_sealed(stored):
        return
    blob = stored[len(MAGIC) :]
    try:
        kek_id = keyring.kek_id_of(blob)
        if kek_id not in known:
            keyring.rewrap(blob)
            known.add(kek_id)
    except IntegrityError as exc:
        raise IntegrityError(
            f"{what} of module {module_id} cannot be re-wrapped: {exc.detail}; nothing was changed",
            module_id=str(module_id),
        ) from None
