"""The ``ModuleStore`` contract for revisions, names and metadata-only puts: retained
revisions read back with their bytes, names are indexed per namespace, and a module's
artifacts follow the revisions it retains. Run against every backend."""

from __future__ import annotations

import dataclasses
from uuid import uuid4

from tests.storage.builders import FLAVOR, T0, artifact_of, make_record, unique_wasm
from wess.models import Alias, AliasTarget, ModuleRecord, RevisionRef
from wess.storage import (
    PutArtifact,
    PutModule,
    PutModuleInfo,
    PutRevision,
    RemoveModule,
    RemoveRevision,
    Store,
)


def revised(record: ModuleRecord, *, number: int, seed: str, kept: tuple[int, ...]) -> ModuleRecord:
    """``record`` at revision ``number`` with new bytes, retaining the revisions ``kept``
    (each with the bytes ``revised`` gives it under the same seed scheme)."""
    wasm = unique_wasm(seed)
    refs = tuple(
        RevisionRef(number=n, digest=_digest(f"r{n}"), size=64, created_at=T0) for n in kept
    )
    base = make_record(record.id, wasm=wasm, revision=number)
    info = dataclasses.replace(base.info, name=record.info.name, revisions=refs)
    return ModuleRecord(info=info, wasm=wasm)


def _digest(seed: str) -> str:
    from wess.models import digest_of

    return digest_of(unique_wasm(seed))


def named(name: str, *, namespace: str = "default", seed: str = "x") -> ModuleRecord:
    record = make_record(namespace=namespace, wasm=unique_wasm(seed))
    return ModuleRecord(info=dataclasses.replace(record.info, name=name), wasm=record.wasm)


async def test_a_revision_reads_back_with_its_bytes_until_removed(store: Store) -> None:
    """PutRevision keeps a revision beside the module; get_revision answers it verified,
    None for a number never kept, and None again once it is removed."""
    first = revised(make_record(), number=1, seed="r1", kept=(1,))
    second = revised(first, number=2, seed="r2", kept=(1, 2))
    await store.commit([PutModule(first), PutRevision(first)])
    await store.commit([PutModule(second), PutRevision(second)])
    assert await store.modules.get_revision(first.id, 1) == first
    assert await store.modules.get_revision(first.id, 2) == second
    assert await store.modules.get_revision(first.id, 3) is None
    await store.commit([RemoveRevision(first.id, 1)])
    assert await store.modules.get_revision(first.id, 1) is None
    assert await store.modules.get(first.id) == second


async def test_a_revision_of_an_absent_module_is_dropped(store: Store) -> None:
    """Nothing is kept beside a module that is not there."""
    record = make_record()
    await store.commit([PutRevision(record)])
    assert await store.modules.get_revision(record.id, 1) is None


async def test_removing_a_module_removes_its_revisions_and_its_name(store: Store) -> None:
    """RemoveModule leaves no revision and frees the name."""
    record = named("adder", seed="a")
    await store.commit([PutModule(record), PutRevision(record)])
    assert await store.modules.find("default", "adder") == record.id
    await store.commit([RemoveModule(record.id)])
    assert await store.modules.get_revision(record.id, 1) is None
    assert await store.modules.find("default", "adder") is None


async def test_names_are_indexed_per_namespace_and_kept_by_their_first_holder(
    store: Store,
) -> None:
    """A name addresses one module of a namespace; another namespace's same name is
    another module; a second module put under a held name does not take it; a rename
    frees the old name; a name spelling a UUID is not indexed."""
    first = named("adder", seed="1")
    other_namespace = named("adder", namespace="team-b", seed="2")
    second = named("adder", seed="3")
    unnamed = named(str(uuid4()), seed="4")
    await store.commit([PutModule(first), PutModule(other_namespace)])
    await store.commit([PutModule(second), PutModule(unnamed)])
    assert await store.modules.find("default", "adder") == first.id
    assert await store.modules.find("team-b", "adder") == other_namespace.id
    assert await store.modules.find("default", unnamed.info.name) is None
    renamed = dataclasses.replace(first.info, name="summer")
    await store.commit([PutModule(ModuleRecord(info=renamed, wasm=first.wasm))])
    assert await store.modules.find("default", "summer") == first.id
    assert await store.modules.find("default", "adder") is None
    seen: list[object] = []

    def look(view: object) -> list[PutModule]:
        seen.append(view.find_names([("default", "summer"), ("team-b", "nope")]))  # type: ignore[attr-defined]
        return []

    await store.transact(look)
    assert seen == [{("default", "summer"): first.id, ("team-b", "nope"): None}]


async def test_put_module_info_replaces_metadata_and_keeps_the_bytes(store: Store) -> None:
    """Aliases change without the bytes; a metadata put for other bytes is dropped."""
    record = named("adder", seed="m")
    await store.commit([PutModule(record)])
    aliased = dataclasses.replace(
        record.info, aliases=(Alias("prod", (AliasTarget(1, 90), AliasTarget(2, 10))),)
    )
    await store.commit([PutModuleInfo(aliased)])
    assert await store.modules.get(record.id) == ModuleRecord(info=aliased, wasm=record.wasm)
    stale = dataclasses.replace(aliased, digest="sha256:" + "0" * 64, aliases=())
    await store.commit([PutModuleInfo(stale)])
    assert await store.modules.get_info(record.id) == aliased


async def test_artifacts_of_retained_revisions_survive_new_bytes(store: Store) -> None:
    """A put keeps the artifacts of every retained revision's bytes and drops the rest;
    an artifact of a retained revision's bytes may still be stored."""
    first = revised(make_record(), number=1, seed="r1", kept=(1,))
    artifact = PutArtifact(first.id, artifact_of(first))
    await store.commit([PutModule(first), PutRevision(first), artifact])
    second = revised(first, number=2, seed="r2", kept=(1, 2))
    await store.commit([PutModule(second), PutRevision(second)])
    kept = await store.modules.get_artifact(first.id, digest=first.digest, flavor=FLAVOR)
    assert kept == artifact_of(first)
    await store.commit([PutArtifact(first.id, artifact_of(second, data=b"two"))])
    assert await store.modules.get_artifact(first.id, digest=second.digest, flavor=FLAVOR)
    third = revised(first, number=3, seed="r3", kept=(2, 3))
    await store.commit([PutModule(third), PutRevision(third), RemoveRevision(first.id, 1)])
    assert await store.modules.get_artifact(first.id, digest=first.digest, flavor=FLAVOR) is None
    assert await store.modules.get_artifact(first.id, digest=second.digest, flavor=FLAVOR)
    await store.commit([PutArtifact(first.id, artifact_of(first))])
    assert await store.modules.get_artifact(first.id, digest=first.digest, flavor=FLAVOR) is None


async def test_revisions_of_a_sealed_store_are_sealed_and_rewrapped(sealed: Store) -> None:
    """Revision bytes are sealed like the module's own, and a KEK rotation reaches them."""
    from tests.storage.builders import NEW, OLD
    from wess.security.crypto import Keyring

    record = revised(make_record(), number=1, seed="r1", kept=(1,))
    await sealed.commit([PutModule(record), PutRevision(record)])
    assert await sealed.admin.rewrap(Keyring(NEW, (OLD,))) >= 2
    assert await sealed.modules.get_revision(record.id, 1) == record
