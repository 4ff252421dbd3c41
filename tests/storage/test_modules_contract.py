"""The ``ModuleStore`` contract: modules, their listing by namespace, verified bytes, and
the AOT artifacts kept beside them. Run against every backend."""

from __future__ import annotations

import dataclasses
import random
from uuid import UUID, uuid4

import pytest

from tests.storage.builders import (
    FLAVOR,
    artifact_of,
    ids,
    make_record,
    unique_wasm,
)
from wess.errors import IntegrityError
from wess.storage import (
    AddUsage,
    PutArtifact,
    PutModule,
    RemoveModule,
    Store,
)


async def test_absent_module_reads_as_none(store: Store) -> None:
    """get and get_info answer None, not an error, for an id never stored."""
    assert await store.modules.get(uuid4()) is None
    assert await store.modules.get_info(uuid4()) is None


async def test_put_then_read_back_every_field(store: Store) -> None:
    """A committed record reads back equal, bytes and metadata, legacy metadata included."""
    record = make_record(legacy=True)
    await store.commit([PutModule(record)])
    assert await store.modules.get(record.id) == record
    assert await store.modules.get_info(record.id) == record.info


async def test_put_replaces_an_existing_module(store: Store) -> None:
    """A second put of the same id replaces metadata and bytes together."""
    first = make_record()
    second = make_record(first.id, wasm=unique_wasm("v2"), revision=2)
    await store.commit([PutModule(first)])
    await store.commit([PutModule(second)])
    assert await store.modules.get(first.id) == second
    assert await store.modules.count() == 1


async def test_list_is_ordered_by_id_and_pages_with_exclusive_after(
    store: Store,
) -> None:
    """Listing follows uuid string order whatever the insertion order; after is exclusive."""
    records = [make_record(wasm=unique_wasm(str(i))) for i in range(11)]
    random.Random(7).shuffle(records)
    await store.commit([PutModule(r) for r in records])
    expected = sorted((r.id for r in records), key=str)
    assert ids(await store.modules.list(namespace=None, after=None, limit=100)) == expected
    pages: list[UUID] = []
    after: UUID | None = None
    while page := await store.modules.list(namespace=None, after=after, limit=3):
        assert len(page) <= 3
        pages += ids(page)
        after = page[-1].id
    assert pages == expected
    assert (
        ids(await store.modules.list(namespace=None, after=expected[4], limit=2)) == expected[5:7]
    )


async def test_list_after_an_unknown_id_starts_after_its_position(
    store: Store,
) -> None:
    """``after`` need not exist any more (it may have been deleted between pages)."""
    records = [make_record(UUID(int=i * 10)) for i in range(1, 4)]
    await store.commit([PutModule(r) for r in records])
    listed = await store.modules.list(namespace=None, after=UUID(int=15), limit=10)
    assert ids(listed) == [UUID(int=20), UUID(int=30)]


async def test_namespaces_filter_listing_and_counting(store: Store) -> None:
    """list and count with a namespace see only that namespace; None sees every one."""
    alpha = [make_record(namespace="alpha", wasm=unique_wasm(f"a{i}")) for i in range(3)]
    beta = [make_record(namespace="beta", wasm=unique_wasm(f"b{i}")) for i in range(2)]
    # "alph" is a prefix of "alpha": it must not see alpha's modules.
    alph = [make_record(namespace="alph")]
    await store.commit([PutModule(r) for r in alpha + beta + alph])
    assert await store.modules.count() == 6
    assert await store.modules.count(namespace="alpha") == 3
    assert await store.modules.count(namespace="beta") == 2
    assert await store.modules.count(namespace="alph") == 1
    assert await store.modules.count(namespace="gamma") == 0
    listed = await store.modules.list(namespace="alpha", after=None, limit=10)
    assert ids(listed) == sorted((r.id for r in alpha), key=str)
    first = await store.modules.list(namespace="alpha", after=None, limit=1)
    rest = await store.modules.list(namespace="alpha", after=first[0].id, limit=10)
    assert ids(first + rest) == ids(listed)


async def test_moving_a_module_to_another_namespace_moves_its_listing(
    store: Store,
) -> None:
    """A put that changes a module's namespace leaves no trace of it in the old one."""
    record = make_record(namespace="old")
    moved = make_record(record.id, namespace="new", revision=2)
    await store.commit([PutModule(record)])
    await store.commit([PutModule(moved)])
    assert await store.modules.count(namespace="old") == 0
    assert await store.modules.list(namespace="old", after=None, limit=10) == []
    assert ids(await store.modules.list(namespace="new", after=None, limit=10)) == [record.id]


async def test_bytes_not_matching_their_digest_are_refused(store: Store) -> None:
    """get recomputes sha256 and raises IntegrityError naming id, expected and actual digest."""
    record = make_record(digest="sha256:" + "0" * 64)
    await store.commit([PutModule(record)])
    with pytest.raises(IntegrityError) as caught:
        await store.modules.get(record.id)
    message = str(caught.value)
    assert str(record.id) in message
    assert "sha256:" + "0" * 64 in message
    assert "actual sha256:" in message
    assert await store.modules.get_info(record.id) == record.info  # metadata alone is fine


async def test_artifact_is_read_back_by_digest_and_flavor(store: Store) -> None:
    """An artifact committed with its module reads back as stored; another flavor or
    digest is simply absent."""
    record = make_record()
    artifact = artifact_of(record, data=bytes(range(256)) * 4)
    await store.commit([PutModule(record), PutArtifact(record.id, artifact)])
    found = await store.modules.get_artifact(
        record.id, digest=record.digest, flavor=artifact.flavor
    )
    assert found == artifact
    assert await store.modules.get_artifact(record.id, digest=record.digest, flavor="other") is None
    assert (
        await store.modules.get_artifact(record.id, digest="sha256:0", flavor=artifact.flavor)
        is None
    )
    assert (
        await store.modules.get_artifact(uuid4(), digest=record.digest, flavor=artifact.flavor)
        is None
    )


async def test_artifacts_of_several_flavors_live_side_by_side(store: Store) -> None:
    """Two flavors of the same bytes are kept apart; listing and counting ignore them."""
    record = make_record()
    first, second = artifact_of(record, "f1", b"one"), artifact_of(record, "f2", b"two")
    await store.commit([PutModule(record)])
    await store.commit([PutArtifact(record.id, first), PutArtifact(record.id, second)])
    assert await store.modules.get_artifact(record.id, digest=record.digest, flavor="f1") == first
    assert await store.modules.get_artifact(record.id, digest=record.digest, flavor="f2") == second
    assert ids(await store.modules.list(namespace=None, after=None, limit=10)) == [record.id]
    assert await store.modules.count() == 1


async def test_new_bytes_remove_the_old_artifacts_in_the_same_commit(
    store: Store,
) -> None:
    """A put with another digest drops every artifact of the old bytes; a put of the same
    bytes keeps them; an artifact committed after the new put survives."""
    first = make_record()
    old = artifact_of(first)
    await store.commit([PutModule(first), PutArtifact(first.id, old)])
    await store.commit([PutModule(dataclasses.replace(first))])  # same bytes again
    assert await store.modules.get_artifact(first.id, digest=first.digest, flavor=old.flavor) == old
    second = make_record(first.id, wasm=unique_wasm("v2"), revision=2)
    new = artifact_of(second, data=b"new")
    await store.commit([PutModule(second), PutArtifact(second.id, new)])
    assert (
        await store.modules.get_artifact(first.id, digest=first.digest, flavor=old.flavor) is None
    )
    assert (
        await store.modules.get_artifact(second.id, digest=second.digest, flavor=new.flavor) == new
    )


async def test_remove_drops_artifacts_and_usage(store: Store) -> None:
    """Removing a module removes its artifacts and its count with it; a module stored
    again under the same id starts with neither."""
    record = make_record()
    artifact = artifact_of(record)
    await store.commit(
        [PutModule(record), PutArtifact(record.id, artifact), AddUsage(((record.id, 5),))]
    )
    await store.commit([RemoveModule(record.id)])
    assert (
        await store.modules.get_artifact(record.id, digest=record.digest, flavor=artifact.flavor)
        is None
    )
    assert await store.usage.most_used(10) == []
    await store.commit([PutModule(record)])
    assert (
        await store.modules.get_artifact(record.id, digest=record.digest, flavor=artifact.flavor)
        is None
    )
    assert await store.usage.most_used(10) == []


async def test_artifact_for_absent_or_changed_module_is_dropped(
    store: Store,
) -> None:
    """An artifact whose module is absent, or holds other bytes by then (even earlier in
    the same commit), is not stored: nothing is left orphaned."""
    absent = make_record()
    await store.commit([PutArtifact(absent.id, artifact_of(absent))])
    assert await store.modules.get_artifact(absent.id, digest=absent.digest, flavor=FLAVOR) is None
    first = make_record()
    second = make_record(first.id, wasm=unique_wasm("v2"), revision=2)
    await store.commit([PutModule(first)])
    await store.commit([PutModule(second), PutArtifact(first.id, artifact_of(first))])
    assert await store.modules.get_artifact(first.id, digest=first.digest, flavor=FLAVOR) is None
    removed = make_record()
    await store.commit(
        [
            PutModule(removed),
            RemoveModule(removed.id),
            PutArtifact(removed.id, artifact_of(removed)),
        ]
    )
    assert (
        await store.modules.get_artifact(removed.id, digest=removed.digest, flavor=FLAVOR) is None
    )


async def test_namespace_usage_counts_modules_and_wasm_bytes(
    store: Store,
) -> None:
    """Modules and bytes per namespace follow puts, replacements, moves and removals."""
    a1 = make_record(namespace="a", wasm=unique_wasm("a1", 100))
    a2 = make_record(namespace="a", wasm=unique_wasm("a2", 50))
    b1 = make_record(namespace="b", wasm=unique_wasm("b1", 7))
    await store.commit([PutModule(a1), PutModule(a2), PutModule(b1)])
    assert await store.modules.namespace_usage() == {"a": (2, 150), "b": (1, 7)}
    bigger = make_record(a1.id, namespace="a", wasm=unique_wasm("a1v2", 300), revision=2)
    moved = make_record(b1.id, namespace="c", wasm=b1.wasm, revision=2)
    await store.commit([PutModule(bigger), PutModule(moved), RemoveModule(a2.id)])
    assert await store.modules.namespace_usage() == {"a": (1, 300), "c": (1, 7)}
