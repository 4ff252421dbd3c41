"""The ModuleRepository contract, run against every backend through the factory."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from tests.storage.builders import make_entries, make_key, make_record, unique_wasm
from wess.errors import IntegrityError, StorageUnavailable
from wess.models import ModuleInfo, ModuleRecord, SealedArtifact
from wess.security.audit import verify
from wess.security.crypto import Kek, Keyring
from wess.storage import (
    AddUsage,
    AppendAudit,
    Change,
    ModuleRepository,
    PutApiKey,
    PutArtifact,
    PutModule,
    RemoveApiKey,
    RemoveModule,
    StoreView,
    open_repository,
)

URLS: dict[str, Callable[[Path], str]] = {
    "memory": lambda tmp: "memory://",
    "rocksdb": lambda tmp: f"rocksdb://{tmp / 'db'}",
    # "postgresql": lambda tmp: "postgresql://127.0.0.1:5432/wess_test",
}


OLD = Kek(bytes(range(32)))
NEW = Kek(bytes(range(1, 33)))


@pytest.fixture(params=sorted(URLS))
async def repository(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[ModuleRepository]:
    async with open_repository(URLS[request.param](tmp_path)) as repo:
        yield repo


@pytest.fixture(params=sorted(URLS))
async def sealed(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ModuleRepository]:
    """A repository that seals module bytes and artifacts under ``OLD``."""
    async with open_repository(URLS[request.param](tmp_path), keyring=Keyring(OLD)) as repo:
        yield repo


def ids(infos: list[ModuleInfo]) -> list[UUID]:
    return [info.id for info in infos]


async def test_is_a_module_repository(repository: ModuleRepository) -> None:
    """Every backend satisfies the runtime-checkable Protocol."""
    assert isinstance(repository, ModuleRepository)


async def test_absent_module_reads_as_none(repository: ModuleRepository) -> None:
    """get and get_info answer None, not an error, for an id never stored."""
    assert await repository.get(uuid4()) is None
    assert await repository.get_info(uuid4()) is None


async def test_put_then_read_back_every_field(repository: ModuleRepository) -> None:
    """A committed record reads back equal, bytes and metadata, legacy metadata included."""
    record = make_record(legacy=True)
    await repository.commit([PutModule(record)])
    assert await repository.get(record.id) == record
    assert await repository.get_info(record.id) == record.info


async def test_put_replaces_an_existing_module(repository: ModuleRepository) -> None:
    """A second put of the same id replaces metadata and bytes together."""
    first = make_record()
    second = make_record(first.id, wasm=unique_wasm("v2"), revision=2)
    await repository.commit([PutModule(first)])
    await repository.commit([PutModule(second)])
    assert await repository.get(first.id) == second
    assert await repository.count() == 1


async def test_list_is_ordered_by_id_and_pages_with_exclusive_after(
    repository: ModuleRepository,
) -> None:
    """Listing follows uuid string order whatever the insertion order; after is exclusive."""
    records = [make_record(wasm=unique_wasm(str(i))) for i in range(11)]
    random.Random(7).shuffle(records)
    await repository.commit([PutModule(r) for r in records])
    expected = sorted((r.id for r in records), key=str)
    assert ids(await repository.list(namespace=None, after=None, limit=100)) == expected
    pages: list[UUID] = []
    after: UUID | None = None
    while page := await repository.list(namespace=None, after=after, limit=3):
        assert len(page) <= 3
        pages += ids(page)
        after = page[-1].id
    assert pages == expected
    assert ids(await repository.list(namespace=None, after=expected[4], limit=2)) == expected[5:7]


async def test_list_after_an_unknown_id_starts_after_its_position(
    repository: ModuleRepository,
) -> None:
    """``after`` need not exist any more (it may have been deleted between pages)."""
    records = [make_record(UUID(int=i * 10)) for i in range(1, 4)]
    await repository.commit([PutModule(r) for r in records])
    listed = await repository.list(namespace=None, after=UUID(int=15), limit=10)
    assert ids(listed) == [UUID(int=20), UUID(int=30)]


async def test_namespaces_filter_listing_and_counting(repository: ModuleRepository) -> None:
    """list and count with a namespace see only that namespace; None sees every one."""
    alpha = [make_record(namespace="alpha", wasm=unique_wasm(f"a{i}")) for i in range(3)]
    beta = [make_record(namespace="beta", wasm=unique_wasm(f"b{i}")) for i in range(2)]
    # "alph" is a prefix of "alpha": it must not see alpha's modules.
    alph = [make_record(namespace="alph")]
    await repository.commit([PutModule(r) for r in alpha + beta + alph])
    assert await repository.count() == 6
    assert await repository.count(namespace="alpha") == 3
    assert await repository.count(namespace="beta") == 2
    assert await repository.count(namespace="alph") == 1
    assert await repository.count(namespace="gamma") == 0
    listed = await repository.list(namespace="alpha", after=None, limit=10)
    assert ids(listed) == sorted((r.id for r in alpha), key=str)
    first = await repository.list(namespace="alpha", after=None, limit=1)
    rest = await repository.list(namespace="alpha", after=first[0].id, limit=10)
    assert ids(first + rest) == ids(listed)


async def test_moving_a_module_to_another_namespace_moves_its_listing(
    repository: ModuleRepository,
) -> None:
    """A put that changes a module's namespace leaves no trace of it in the old one."""
    record = make_record(namespace="old")
    moved = make_record(record.id, namespace="new", revision=2)
    await repository.commit([PutModule(record)])
    await repository.commit([PutModule(moved)])
    assert await repository.count(namespace="old") == 0
    assert await repository.list(namespace="old", after=None, limit=10) == []
    assert ids(await repository.list(namespace="new", after=None, limit=10)) == [record.id]


async def test_commit_applies_puts_and_removes_together(repository: ModuleRepository) -> None:
    """One commit with several puts and removes leaves exactly their combined effect."""
    kept, removed, replaced = (make_record(wasm=unique_wasm(s)) for s in ("k", "r", "p"))
    await repository.commit([PutModule(kept), PutModule(removed), PutModule(replaced)])
    added = [make_record(wasm=unique_wasm(f"n{i}")) for i in range(3)]
    new_replaced = make_record(replaced.id, wasm=unique_wasm("p2"), revision=2)
    await repository.commit(
        [
            PutModule(added[0]),
            RemoveModule(removed.id),
            PutModule(new_replaced),
            PutModule(added[1]),
            RemoveModule(uuid4()),  # removing an absent module is not an error
            PutModule(added[2]),
        ]
    )
    assert await repository.get(removed.id) is None
    assert await repository.get(replaced.id) == new_replaced
    assert await repository.get(kept.id) == kept
    assert await repository.count() == 5
    assert set(ids(await repository.list(namespace=None, after=None, limit=10))) == {
        kept.id,
        replaced.id,
        *(r.id for r in added),
    }


async def test_later_changes_in_a_commit_see_earlier_ones(repository: ModuleRepository) -> None:
    """Put-then-remove of one id removes it; remove-then-put stores it; indexes agree."""
    gone, back = make_record(namespace="ns"), make_record(namespace="ns")
    await repository.commit([PutModule(back)])
    await repository.commit(
        [PutModule(gone), RemoveModule(gone.id), RemoveModule(back.id), PutModule(back)]
    )
    assert await repository.get(gone.id) is None
    assert await repository.get(back.id) == back
    assert await repository.count(namespace="ns") == 1
    assert ids(await repository.list(namespace="ns", after=None, limit=10)) == [back.id]


async def test_a_commit_that_fails_applies_nothing(repository: ModuleRepository) -> None:
    """If one change cannot be stored (a naive timestamp), no change of the batch lands."""
    good = make_record()
    bad = make_record()
    bad = dataclasses.replace(
        bad,
        info=dataclasses.replace(bad.info, created_at=datetime(2025, 1, 1)),
    )
    with pytest.raises(ValueError, match="naive"):
        await repository.commit([PutModule(good), PutModule(bad)])
    assert await repository.get(good.id) is None
    assert await repository.count() == 0


async def test_a_transaction_reads_the_store_then_commits_what_it_answers(
    repository: ModuleRepository,
) -> None:
    """transact hands ``work`` a view of the store as it is (infos, absent ones as None,
    API keys), then commits the changes ``work`` answers, like commit."""
    stored, key = make_record(namespace="old"), make_key()
    await repository.commit([PutModule(stored), PutApiKey(key)])
    fresh = make_record()
    moved = make_record(stored.id, namespace="new", revision=2)
    seen: list[object] = []

    def work(view: StoreView) -> list[Change]:
        seen.append(view.get_infos([stored.id, fresh.id]))
        seen.append((view.get_api_key(key.id), view.get_api_key("ffffffffffffffff")))
        return [PutModule(fresh), PutModule(moved)]

    await repository.transact(work)
    assert seen == [{stored.id: stored.info, fresh.id: None}, (key, None)]
    assert await repository.get(fresh.id) == fresh
    assert await repository.get(stored.id) == moved
    # what the view read of the moved module is what its commit changed: no stale index
    assert await repository.count(namespace="old") == 0
    assert ids(await repository.list(namespace="new", after=None, limit=10)) == [stored.id]


async def test_a_transaction_whose_work_raises_commits_nothing(
    repository: ModuleRepository,
) -> None:
    """Whatever ``work`` raises propagates from transact, and nothing is stored."""
    record = make_record()

    def work(view: StoreView) -> list[Change]:
        view.get_infos([record.id])
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError, match="refused"):
        await repository.transact(work)
    assert await repository.count() == 0


async def test_a_transaction_that_answers_nothing_writes_nothing(
    repository: ModuleRepository,
) -> None:
    """An empty answer is a transaction that only read."""
    await repository.transact(lambda view: [])
    assert await repository.count() == 0
    assert await repository.audit_head() is None


async def test_bytes_not_matching_their_digest_are_refused(repository: ModuleRepository) -> None:
    """get recomputes sha256 and raises IntegrityError naming id, expected and actual digest."""
    record = make_record(digest="sha256:" + "0" * 64)
    await repository.commit([PutModule(record)])
    with pytest.raises(IntegrityError) as caught:
        await repository.get(record.id)
    message = str(caught.value)
    assert str(record.id) in message
    assert "sha256:" + "0" * 64 in message
    assert "actual sha256:" in message
    assert await repository.get_info(record.id) == record.info  # metadata alone is fine


async def test_ping_succeeds_while_open(repository: ModuleRepository) -> None:
    """ping returns quietly on a healthy store."""
    await repository.ping()


async def test_every_call_after_close_is_unavailable(repository: ModuleRepository) -> None:
    """After aclose every method raises StorageUnavailable, and aclose may be repeated."""
    record = make_record()
    await repository.commit([PutModule(record)])
    await repository.aclose()
    calls = [
        repository.get(record.id),
        repository.get_info(record.id),
        repository.list(namespace=None, after=None, limit=1),
        repository.count(),
        repository.commit([RemoveModule(record.id)]),
        repository.ping(),
        repository.get_artifact(record.id, digest=record.digest, flavor=FLAVOR),
        repository.most_used(1),
        repository.get_api_key("k"),
        repository.list_api_keys(),
        repository.audit_head(),
        repository.list_audit(after=0, limit=1),
        repository.namespace_usage(),
        repository.rewrap(Keyring(NEW)),
    ]
    for call in calls:
        with pytest.raises(StorageUnavailable):
            await call
    await repository.aclose()


# -- artifacts and usage counts -----------------------------------------------------------------


FLAVOR = "wasmtime-1+abc"


def artifact_of(record: ModuleRecord, flavor: str = FLAVOR, data: bytes = b"aot") -> SealedArtifact:
    return SealedArtifact(digest=record.digest, flavor=flavor, data=data)


async def test_artifact_is_read_back_by_digest_and_flavor(repository: ModuleRepository) -> None:
    """An artifact committed with its module reads back as stored; another flavor or
    digest is simply absent."""
    record = make_record()
    artifact = artifact_of(record, data=bytes(range(256)) * 4)
    await repository.commit([PutModule(record), PutArtifact(record.id, artifact)])
    found = await repository.get_artifact(record.id, digest=record.digest, flavor=artifact.flavor)
    assert found == artifact
    assert await repository.get_artifact(record.id, digest=record.digest, flavor="other") is None
    assert (
        await repository.get_artifact(record.id, digest="sha256:0", flavor=artifact.flavor) is None
    )
    assert (
        await repository.get_artifact(uuid4(), digest=record.digest, flavor=artifact.flavor) is None
    )


async def test_artifacts_of_several_flavors_live_side_by_side(repository: ModuleRepository) -> None:
    """Two flavors of the same bytes are kept apart; listing and counting ignore them."""
    record = make_record()
    first, second = artifact_of(record, "f1", b"one"), artifact_of(record, "f2", b"two")
    await repository.commit([PutModule(record)])
    await repository.commit([PutArtifact(record.id, first), PutArtifact(record.id, second)])
    assert await repository.get_artifact(record.id, digest=record.digest, flavor="f1") == first
    assert await repository.get_artifact(record.id, digest=record.digest, flavor="f2") == second
    assert ids(await repository.list(namespace=None, after=None, limit=10)) == [record.id]
    assert await repository.count() == 1


async def test_new_bytes_remove_the_old_artifacts_in_the_same_commit(
    repository: ModuleRepository,
) -> None:
    """A put with another digest drops every artifact of the old bytes; a put of the same
    bytes keeps them; an artifact committed after the new put survives."""
    first = make_record()
    old = artifact_of(first)
    await repository.commit([PutModule(first), PutArtifact(first.id, old)])
    await repository.commit([PutModule(dataclasses.replace(first))])  # same bytes again
    assert await repository.get_artifact(first.id, digest=first.digest, flavor=old.flavor) == old
    second = make_record(first.id, wasm=unique_wasm("v2"), revision=2)
    new = artifact_of(second, data=b"new")
    await repository.commit([PutModule(second), PutArtifact(second.id, new)])
    assert await repository.get_artifact(first.id, digest=first.digest, flavor=old.flavor) is None
    assert await repository.get_artifact(second.id, digest=second.digest, flavor=new.flavor) == new


async def test_remove_drops_artifacts_and_usage(repository: ModuleRepository) -> None:
    """Removing a module removes its artifacts and its count with it; a module stored
    again under the same id starts with neither."""
    record = make_record()
    artifact = artifact_of(record)
    await repository.commit(
        [PutModule(record), PutArtifact(record.id, artifact), AddUsage(((record.id, 5),))]
    )
    await repository.commit([RemoveModule(record.id)])
    assert (
        await repository.get_artifact(record.id, digest=record.digest, flavor=artifact.flavor)
        is None
    )
    assert await repository.most_used(10) == []
    await repository.commit([PutModule(record)])
    assert (
        await repository.get_artifact(record.id, digest=record.digest, flavor=artifact.flavor)
        is None
    )
    assert await repository.most_used(10) == []


async def test_artifact_for_absent_or_changed_module_is_dropped(
    repository: ModuleRepository,
) -> None:
    """An artifact whose module is absent, or holds other bytes by then (even earlier in
    the same commit), is not stored: nothing is left orphaned."""
    absent = make_record()
    await repository.commit([PutArtifact(absent.id, artifact_of(absent))])
    assert await repository.get_artifact(absent.id, digest=absent.digest, flavor=FLAVOR) is None
    first = make_record()
    second = make_record(first.id, wasm=unique_wasm("v2"), revision=2)
    await repository.commit([PutModule(first)])
    await repository.commit([PutModule(second), PutArtifact(first.id, artifact_of(first))])
    assert await repository.get_artifact(first.id, digest=first.digest, flavor=FLAVOR) is None
    removed = make_record()
    await repository.commit(
        [
            PutModule(removed),
            RemoveModule(removed.id),
            PutArtifact(removed.id, artifact_of(removed)),
        ]
    )
    assert await repository.get_artifact(removed.id, digest=removed.digest, flavor=FLAVOR) is None


async def test_usage_adds_up_and_ranks_most_used_first(repository: ModuleRepository) -> None:
    """Counts add across commits and within one; most_used ranks by count, then id, and
    drops counts for modules that do not exist."""
    a, b, c = make_record(), make_record(), make_record()
    await repository.commit([PutModule(a), PutModule(b), PutModule(c)])
    await repository.commit([AddUsage(((a.id, 2), (b.id, 7), (uuid4(), 100)))])
    await repository.commit([AddUsage(((a.id, 3),)), AddUsage(((a.id, 4), (c.id, 1)))])
    assert await repository.most_used(10) == [(a.id, 9), (b.id, 7), (c.id, 1)]
    assert await repository.most_used(2) == [(a.id, 9), (b.id, 7)]
    await repository.commit([PutModule(make_record(a.id, wasm=unique_wasm("a2"), revision=2))])
    assert (await repository.most_used(1))[0] == (a.id, 9)  # new bytes keep the count


async def test_negative_usage_is_refused_before_anything_is_written(
    repository: ModuleRepository,
) -> None:
    """A commit holding a negative count raises ValueError and applies nothing."""
    record = make_record()
    with pytest.raises(ValueError, match="only grow"):
        await repository.commit([PutModule(record), AddUsage(((record.id, -1),))])
    assert await repository.get_info(record.id) is None


# -- API keys -----------------------------------------------------------------------------------


async def test_api_keys_are_kept_by_id_and_listed_in_id_order(
    repository: ModuleRepository,
) -> None:
    """A put key reads back equal (hash, times, role); listing is ordered by id; a second
    put replaces; a removal forgets it, and removing an absent key is no error."""
    keys = [make_key(f"{i:016x}") for i in (3, 1, 2)]
    await repository.commit([PutApiKey(key) for key in keys])
    assert await repository.get_api_key(keys[0].id) == keys[0]
    assert await repository.get_api_key("ffffffffffffffff") is None
    assert [k.id for k in await repository.list_api_keys()] == sorted(k.id for k in keys)
    touched = dataclasses.replace(keys[1], last_used_at=keys[1].created_at)
    await repository.commit([PutApiKey(touched), RemoveApiKey(keys[2].id), RemoveApiKey("none")])
    assert await repository.get_api_key(keys[1].id) == touched
    assert await repository.get_api_key(keys[2].id) is None
    assert await repository.list_api_keys() == sorted([keys[0], touched], key=lambda k: k.id)


async def test_api_keys_do_not_count_as_modules(repository: ModuleRepository) -> None:
    """Keys live apart from modules: listing, counting and usage ignore them."""
    await repository.commit([PutApiKey(make_key())])
    assert await repository.count() == 0
    assert await repository.list(namespace=None, after=None, limit=10) == []
    assert await repository.namespace_usage() == {}


# -- the audit log ------------------------------------------------------------------------------


async def test_audit_entries_read_back_in_seq_order(repository: ModuleRepository) -> None:
    """Entries appended over several commits (past seq 255 and 65535's first byte) read back
    in seq order, page by ``after``/``limit``, and still verify as a chain."""
    assert await repository.audit_head() is None
    assert await repository.list_audit(after=0, limit=10) == []
    entries = make_entries(300)
    for start in range(0, 300, 64):
        await repository.commit([AppendAudit(e) for e in entries[start : start + 64]])
    assert await repository.audit_head() == entries[-1]
    assert await repository.list_audit(after=0, limit=1000) == entries
    assert await repository.list_audit(after=254, limit=3) == entries[254:257]
    assert await repository.list_audit(after=300, limit=10) == []
    assert await repository.list_audit(after=0, limit=0) == []
    assert verify(await repository.list_audit(after=0, limit=1000)).ok


async def test_an_audit_entry_lands_in_the_same_commit_as_its_change(
    repository: ModuleRepository,
) -> None:
    """A module, a key and their audit entries commit together, or (on failure) not at all."""
    record, key = make_record(), make_key()
    first, second = make_entries(2)
    await repository.commit([PutModule(record), AppendAudit(first)])
    assert await repository.audit_head() == first
    bad = dataclasses.replace(
        make_record(), info=dataclasses.replace(record.info, created_at=datetime(2025, 1, 1))
    )
    with pytest.raises(ValueError, match="naive"):
        await repository.commit([PutApiKey(key), AppendAudit(second), PutModule(bad)])
    assert await repository.audit_head() == first
    assert await repository.get_api_key(key.id) is None


async def test_audit_entries_are_never_replaced(repository: ModuleRepository) -> None:
    """Appending a seq that exists (stored, or earlier in the same commit) raises ValueError
    and applies nothing of that commit."""
    first, second = make_entries(2)
    await repository.commit([AppendAudit(first)])
    record = make_record()
    with pytest.raises(ValueError, match="exists already"):
        await repository.commit([PutModule(record), AppendAudit(first)])
    with pytest.raises(ValueError, match="exists already"):
        await repository.commit([AppendAudit(second), AppendAudit(second)])
    assert await repository.get_info(record.id) is None
    assert await repository.list_audit(after=0, limit=10) == [first]


# -- usage per namespace ------------------------------------------------------------------------


async def test_namespace_usage_counts_modules_and_wasm_bytes(
    repository: ModuleRepository,
) -> None:
    """Modules and bytes per namespace follow puts, replacements, moves and removals."""
    a1 = make_record(namespace="a", wasm=unique_wasm("a1", 100))
    a2 = make_record(namespace="a", wasm=unique_wasm("a2", 50))
    b1 = make_record(namespace="b", wasm=unique_wasm("b1", 7))
    await repository.commit([PutModule(a1), PutModule(a2), PutModule(b1)])
    assert await repository.namespace_usage() == {"a": (2, 150), "b": (1, 7)}
    bigger = make_record(a1.id, namespace="a", wasm=unique_wasm("a1v2", 300), revision=2)
    moved = make_record(b1.id, namespace="c", wasm=b1.wasm, revision=2)
    await repository.commit([PutModule(bigger), PutModule(moved), RemoveModule(a2.id)])
    assert await repository.namespace_usage() == {"a": (1, 300), "c": (1, 7)}


# -- encryption at rest -------------------------------------------------------------------------


async def test_sealed_values_read_back_as_written(sealed: ModuleRepository) -> None:
    """With a keyring, module bytes and artifacts read back as the plaintext they were;
    metadata, listing and usage are unchanged."""
    record = make_record(namespace="n")
    artifact = artifact_of(record, data=b"aot image" * 50)
    await sealed.commit([PutModule(record), PutArtifact(record.id, artifact)])
    assert await sealed.get(record.id) == record
    assert await sealed.get_artifact(record.id, digest=record.digest, flavor=FLAVOR) == artifact
    assert await sealed.get_info(record.id) == record.info
    assert await sealed.namespace_usage() == {"n": (1, record.info.size)}


async def test_the_digest_is_still_checked_after_decryption(sealed: ModuleRepository) -> None:
    """Bytes that decrypt fine but do not match the stored digest are an IntegrityError."""
    record = make_record(digest="sha256:" + "0" * 64)
    await sealed.commit([PutModule(record)])
    with pytest.raises(IntegrityError, match="do not match their digest"):
        await sealed.get(record.id)


async def test_rewrap_seals_plain_values_and_is_idempotent(
    repository: ModuleRepository,
) -> None:
    """Values stored without a keyring are sealed by rewrap (one per module bytes and
    artifact), read back the same, and a second rewrap rewrites nothing."""
    records = [make_record(wasm=unique_wasm(str(i))) for i in range(3)]
    await repository.commit([PutModule(r) for r in records])
    await repository.commit([PutArtifact(records[0].id, artifact_of(records[0]))])
    assert await repository.rewrap(Keyring(OLD)) == 4
    assert await repository.rewrap(Keyring(OLD)) == 0
    for record in records:
        assert await repository.get(record.id) == record
    found = await repository.get_artifact(records[0].id, digest=records[0].digest, flavor=FLAVOR)
    assert found == artifact_of(records[0])


async def test_rotation_rewraps_under_the_new_kek(sealed: ModuleRepository) -> None:
    """rewrap with a keyring whose current KEK is new rewrites every value; afterwards a
    keyring holding only the new KEK reads everything, and later writes use it."""
    old = make_record()
    await sealed.commit([PutModule(old), PutArtifact(old.id, artifact_of(old))])
    assert await sealed.rewrap(Keyring(NEW, [OLD])) == 2
    assert await sealed.rewrap(Keyring(NEW)) == 0  # nothing is left under OLD
    later = make_record()
    await sealed.commit([PutModule(later)])
    assert await sealed.get(old.id) == old
    assert await sealed.get(later.id) == later
    assert await sealed.get_artifact(old.id, digest=old.digest, flavor=FLAVOR) == artifact_of(old)


async def test_rotation_without_the_old_kek_changes_nothing(sealed: ModuleRepository) -> None:
    """A keyring that cannot unwrap a stored value is refused before anything is written,
    naming the module; the store goes on with its old keyring."""
    record = make_record()
    await sealed.commit([PutModule(record)])
    with pytest.raises(IntegrityError, match=str(record.id)):
        await sealed.rewrap(Keyring(NEW))
    assert await sealed.get(record.id) == record
    await sealed.commit([PutModule(make_record())])
    assert await sealed.rewrap(Keyring(OLD)) == 0


async def test_plain_bytes_that_would_read_as_sealed_are_refused(
    repository: ModuleRepository,
) -> None:
    """Without a keyring, bytes starting with the sealed-value magic are refused before
    anything is written, so the first bytes always tell sealed from plain."""
    record = make_record(wasm=b"wess-enc" + unique_wasm("x"))
    with pytest.raises(ValueError, match="sealed"):
        await repository.commit([PutModule(make_record()), PutModule(record)])
    assert await repository.count() == 0
