"""Writer: RotateKek re-wraps the store between batches, audited, answered with a count."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.storage.builders import AUDIT_KEY
from tests.workers.jobs import ALICE, create
from wess.errors import ConfigError, IntegrityError
from wess.messages import RotateKek
from wess.models import SealedArtifact
from wess.observability.metrics import Metrics
from wess.security.audit import verify
from wess.security.crypto import Kek, Keyring
from wess.storage import AppendAudit, PutArtifact, PutModule, PutRevision
from wess.storage.memory import MemoryStore
from wess.testing import FakeClock, RecordingStore
from wess.workers.writer import Writer

OLD = Kek(bytes(range(32)))
NEW = Kek(bytes(range(1, 33)))


@pytest.fixture
async def sealed() -> AsyncIterator[RecordingStore]:
    repository = RecordingStore(MemoryStore(keyring=Keyring(OLD)))
    yield repository
    await repository.aclose()


@pytest.fixture
def keyrings() -> dict[str, Keyring]:
    """What the Writer finds for a KEK id (the key files, in a server)."""
    return {NEW.id: Keyring(NEW, [OLD])}


@pytest.fixture
async def writer(
    sealed: RecordingStore, metrics: Metrics, keyrings: dict[str, Keyring]
) -> AsyncIterator[Writer]:
    async with Writer(
        sealed,
        audit_key=AUDIT_KEY,
        metrics=metrics,
        clock=FakeClock(step=1),
        keyrings=keyrings.__getitem__,
    ) as writer:
        yield writer


async def test_rotation_answers_the_count_and_is_audited(
    writer: Writer, sealed: RecordingStore
) -> None:
    """Every stored value is re-wrapped under the new KEK; the submitter gets how many,
    and one kek.rotate entry records the new KEK and the count."""
    for seed in "abc":
        info = await writer.submit(create(seed=seed))
        assert info is not None
        artifact = SealedArtifact(digest=info.digest, flavor="f", data=b"aot")
        await sealed.inner.commit([PutArtifact(info.id, artifact)])
    rewrapped = await writer.submit(RotateKek(kek_id=NEW.id, actor=ALICE, request_id="rot-1"))
    assert rewrapped == 9  # each module's bytes, its revision's and its artifact
    (entry,) = await sealed.inner.audit.list(after=0, limit=10)
    assert (entry.action, entry.target, entry.outcome, entry.namespace, entry.request_id) == (
        "kek.rotate",
        f"{NEW.id} rewrapped=9",
        "ok",
        None,
        "rot-1",
    )
    assert await sealed.inner.admin.rewrap(Keyring(NEW)) == 0  # nothing is left under OLD


async def test_later_writes_are_sealed_under_the_new_kek(
    writer: Writer, sealed: RecordingStore
) -> None:
    """After the rotation the store seals with the new keyring: a keyring holding only
    the new KEK reads a module written afterwards."""
    await writer.submit(RotateKek(kek_id=NEW.id, actor=ALICE))
    job = create(seed="after")
    await writer.submit(job)
    assert await sealed.inner.admin.rewrap(Keyring(NEW)) == 0
    record = await sealed.inner.modules.get(job.module_id)
    assert record is not None
    assert record.wasm == job.content.wasm


async def test_rotation_runs_between_batches(writer: Writer, sealed: RecordingStore) -> None:
    """Jobs queued before a rotation commit first; jobs queued after it wait until the
    rotation is done, then commit in a batch of their own."""
    gate = sealed.hold("admin.rewrap")
    before, after = create(seed="before"), create(seed="after")
    submitted = [
        asyncio.ensure_future(writer.submit(before)),
        asyncio.ensure_future(writer.submit(RotateKek(kek_id=NEW.id, actor=ALICE))),
        asyncio.ensure_future(writer.submit(after)),
    ]
    await gate.reached.wait()
    await asyncio.sleep(0.01)
    assert [task.done() for task in submitted] == [True, False, False]
    assert await sealed.inner.modules.get_info(after.module_id) is None
    gate.open()
    await asyncio.gather(*submitted)
    assert [[type(c) for c in changes] for changes in sealed.committed] == [
        [PutModule, PutRevision],
        [AppendAudit],
        [PutModule, PutRevision],
    ]


async def test_a_refused_rotation_changes_nothing(
    writer: Writer, sealed: RecordingStore, keyrings: dict[str, Keyring]
) -> None:
    """A keyring that cannot open what is stored (the old KEK left out) is refused with
    IntegrityError, commits nothing (its request records the refusal), and the store
    keeps its keyring."""
    keyrings[NEW.id] = Keyring(NEW)
    job = create(seed="x")
    await writer.submit(job)
    with pytest.raises(IntegrityError, match=str(job.module_id)):
        await writer.submit(RotateKek(kek_id=NEW.id, actor=ALICE))
    assert await sealed.inner.audit.list(after=0, limit=10) == []
    await writer.submit(create(seed="y", actor=ALICE))
    assert verify(await sealed.inner.audit.list(after=0, limit=10), key=AUDIT_KEY).ok
    assert await sealed.inner.admin.rewrap(Keyring(OLD)) == 0


async def test_a_rotation_without_encryption_configured_is_refused(
    sealed: RecordingStore, metrics: Metrics
) -> None:
    """A Writer given no key files answers a rotation with a ConfigError that says so,
    and rewraps nothing."""
    async with Writer(
        sealed, audit_key=AUDIT_KEY, metrics=metrics, clock=FakeClock(step=1)
    ) as writer:
        with pytest.raises(ConfigError, match="encryption at rest is not configured"):
            await writer.submit(RotateKek(kek_id=NEW.id, actor=ALICE))
    assert sealed.calls["admin.rewrap"] == 0
    assert await sealed.inner.audit.list(after=0, limit=10) == []
