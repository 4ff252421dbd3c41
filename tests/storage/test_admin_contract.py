"""The ``StoreAdmin`` contract: sealing at rest and re-wrapping under a new KEK. Run
against every backend."""

from __future__ import annotations

import pytest

from tests.storage.builders import (
    FLAVOR,
    NEW,
    OLD,
    artifact_of,
    make_record,
    unique_wasm,
)
from wess.errors import IntegrityError
from wess.security.crypto import Keyring
from wess.storage import (
    PutArtifact,
    PutModule,
    Store,
)


async def test_sealed_values_read_back_as_written(sealed: Store) -> None:
    """With a keyring, module bytes and artifacts read back as the plaintext they were;
    metadata, listing and usage are unchanged."""
    record = make_record(namespace="n")
    artifact = artifact_of(record, data=b"aot image" * 50)
    await sealed.commit([PutModule(record), PutArtifact(record.id, artifact)])
    assert await sealed.modules.get(record.id) == record
    assert (
        await sealed.modules.get_artifact(record.id, digest=record.digest, flavor=FLAVOR)
        == artifact
    )
    assert await sealed.modules.get_info(record.id) == record.info
    assert await sealed.modules.namespace_usage() == {"n": (1, record.info.size)}


async def test_the_digest_is_still_checked_after_decryption(sealed: Store) -> None:
    """Bytes that decrypt fine but do not match the stored digest are an IntegrityError."""
    record = make_record(digest="sha256:" + "0" * 64)
    await sealed.commit([PutModule(record)])
    with pytest.raises(IntegrityError, match="do not match their digest"):
        await sealed.modules.get(record.id)


async def test_rewrap_seals_plain_values_and_is_idempotent(
    store: Store,
) -> None:
    """Values stored without a keyring are sealed by rewrap (one per module bytes and
    artifact), read back the same, and a second rewrap rewrites nothing."""
    records = [make_record(wasm=unique_wasm(str(i))) for i in range(3)]
    await store.commit([PutModule(r) for r in records])
    await store.commit([PutArtifact(records[0].id, artifact_of(records[0]))])
    assert await store.admin.rewrap(Keyring(OLD)) == 4
    assert await store.admin.rewrap(Keyring(OLD)) == 0
    for record in records:
        assert await store.modules.get(record.id) == record
    found = await store.modules.get_artifact(records[0].id, digest=records[0].digest, flavor=FLAVOR)
    assert found == artifact_of(records[0])


async def test_rotation_rewraps_under_the_new_kek(sealed: Store) -> None:
    """rewrap with a keyring whose current KEK is new rewrites every value; afterwards a
    keyring holding only the new KEK reads everything, and later writes use it."""
    old = make_record()
    await sealed.commit([PutModule(old), PutArtifact(old.id, artifact_of(old))])
    assert await sealed.admin.rewrap(Keyring(NEW, [OLD])) == 2
    assert await sealed.admin.rewrap(Keyring(NEW)) == 0  # nothing is left under OLD
    later = make_record()
    await sealed.commit([PutModule(later)])
    assert await sealed.modules.get(old.id) == old
    assert await sealed.modules.get(later.id) == later
    assert await sealed.modules.get_artifact(
        old.id, digest=old.digest, flavor=FLAVOR
    ) == artifact_of(old)


async def test_rotation_without_the_old_kek_changes_nothing(sealed: Store) -> None:
    """A keyring that cannot unwrap a stored value is refused before anything is written,
    naming the module; the store goes on with its old keyring."""
    record = make_record()
    await sealed.commit([PutModule(record)])
    with pytest.raises(IntegrityError, match=str(record.id)):
        await sealed.admin.rewrap(Keyring(NEW))
    assert await sealed.modules.get(record.id) == record
    await sealed.commit([PutModule(make_record())])
    assert await sealed.admin.rewrap(Keyring(OLD)) == 0


async def test_plain_bytes_that_would_read_as_sealed_are_refused(
    store: Store,
) -> None:
    """Without a keyring, bytes starting with the sealed-value magic are refused before
    anything is written, so the first bytes always tell sealed from plain."""
    record = make_record(wasm=b"wess-enc" + unique_wasm("x"))
    with pytest.raises(ValueError, match="sealed"):
        await store.commit([PutModule(make_record()), PutModule(record)])
    assert await store.modules.count() == 0
