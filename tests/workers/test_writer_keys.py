"""Writer: API keys created, revoked and touched; ApiKeyChanged after each durable change."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from tests.storage.builders import AUDIT_KEY, T0, make_key
from tests.workers.jobs import ALICE
from wess.errors import KeyNotFound, PreconditionFailed
from wess.messages import ApiKeyChanged, CreateApiKey, ModuleChanged, RevokeApiKey, TouchApiKeys
from wess.observability.metrics import Metrics
from wess.storage import PutApiKey
from wess.testing import FakeClock, RecordingStore
from wess.workers.writer import Writer


@pytest.fixture
async def writer(repository: RecordingStore, metrics: Metrics) -> AsyncIterator[Writer]:
    async with Writer(
        repository, audit_key=AUDIT_KEY, metrics=metrics, clock=FakeClock(step=1)
    ) as writer:
        yield writer


@pytest.fixture
def key_events(writer: Writer) -> list[ApiKeyChanged]:
    events: list[ApiKeyChanged] = []
    writer.subscribe_keys(events.append)
    return events


async def test_a_created_key_is_stored_audited_and_announced(
    writer: Writer, repository: RecordingStore, key_events: list[ApiKeyChanged]
) -> None:
    """CreateApiKey stores the record, audits key.create (target: the key id, namespace:
    the key's) and publishes ApiKeyChanged with the key to key subscribers only."""
    module_events: list[ModuleChanged] = []
    writer.subscribe(module_events.append)
    key = make_key(namespace="team")
    await writer.submit(CreateApiKey(key=key, actor=ALICE, request_id="r1"))
    assert await repository.inner.keys.get(key.id) == key
    assert key_events == [ApiKeyChanged(key_id=key.id, key=key)]
    assert module_events == []
    (entry,) = await repository.inner.audit.list(after=0, limit=10)
    assert (entry.action, entry.target, entry.namespace, entry.outcome, entry.request_id) == (
        "key.create",
        key.id,
        "team",
        "ok",
        "r1",
    )


async def test_a_duplicate_key_id_is_refused(
    writer: Writer, repository: RecordingStore, key_events: list[ApiKeyChanged]
) -> None:
    """A second create of an id raises PreconditionFailed; the first record stays, and
    only the create that happened is in the log."""
    key = make_key()
    await writer.submit(CreateApiKey(key=key, actor=ALICE))
    other = dataclasses.replace(key, name="impostor")
    with pytest.raises(PreconditionFailed, match="already exists"):
        await writer.submit(CreateApiKey(key=other, actor=ALICE))
    assert await repository.inner.keys.get(key.id) == key
    assert len(key_events) == 1
    entries = await repository.inner.audit.list(after=0, limit=10)
    assert [e.outcome for e in entries] == ["ok"]


async def test_revoking_removes_the_key_and_announces_it_gone(
    writer: Writer, repository: RecordingStore, key_events: list[ApiKeyChanged]
) -> None:
    """RevokeApiKey deletes the record and publishes ApiKeyChanged(key=None); the entry
    names the revoked key's namespace. An unknown id is KeyNotFound and commits nothing."""
    key = make_key(namespace="team")
    await writer.submit(CreateApiKey(key=key, actor=ALICE))
    await writer.submit(RevokeApiKey(key_id=key.id, actor=ALICE))
    assert await repository.inner.keys.get(key.id) is None
    assert key_events[-1] == ApiKeyChanged(key_id=key.id, key=None)
    with pytest.raises(KeyNotFound):
        await writer.submit(RevokeApiKey(key_id=key.id, actor=ALICE))
    entries = await repository.inner.audit.list(after=0, limit=10)
    assert [(e.action, e.namespace, e.outcome) for e in entries] == [
        ("key.create", "team", "ok"),
        ("key.revoke", "team", "ok"),
    ]
    assert len(key_events) == 2


async def test_the_key_event_arrives_before_the_revoke_is_answered(
    writer: Writer, repository: RecordingStore
) -> None:
    """A listener sees the revoke while its submitter is still waiting: a verifier fed
    by it refuses the key before anyone is told it was revoked."""
    key = make_key()
    await writer.submit(CreateApiKey(key=key, actor=ALICE))
    revoke = asyncio.ensure_future(writer.submit(RevokeApiKey(key_id=key.id, actor=ALICE)))
    answered_when_heard: list[bool] = []
    writer.subscribe_keys(lambda event: answered_when_heard.append(revoke.done()))
    await revoke
    assert answered_when_heard == [False]


async def test_touches_move_last_used_forward_for_existing_keys_only(
    writer: Writer, repository: RecordingStore, key_events: list[ApiKeyChanged]
) -> None:
    """TouchApiKeys updates last_used_at of keys that exist, never backwards, ignores
    unknown ids, and is neither audited nor announced."""
    first, second = make_key("000000000000000a"), make_key("000000000000000b")
    await repository.inner.commit([PutApiKey(first), PutApiKey(second)])
    later = T0 + timedelta(hours=1)
    await writer.submit(
        TouchApiKeys(last_used=((first.id, later), (second.id, T0), ("ffffffffffffffff", later)))
    )
    assert (await repository.inner.keys.get(first.id)) == dataclasses.replace(
        first, last_used_at=later
    )
    await writer.submit(TouchApiKeys(last_used=((first.id, T0),)))  # earlier: no change
    stored = await repository.inner.keys.get(first.id)
    assert stored is not None
    assert stored.last_used_at == later
    assert (await repository.inner.keys.get(second.id)) == dataclasses.replace(
        second, last_used_at=T0
    )
    assert await repository.inner.keys.get("ffffffffffffffff") is None
    assert await repository.inner.audit.list(after=0, limit=10) == []
    assert key_events == []


@pytest.mark.parametrize("revoke_first", [True, False])
async def test_a_touch_never_brings_back_a_key_revoked_in_the_same_batch(
    writer: Writer, repository: RecordingStore, revoke_first: bool
) -> None:
    """Whichever comes first in one batch, a revoke and a touch of a key leave it gone."""
    key = make_key()
    await writer.submit(CreateApiKey(key=key, actor=ALICE))
    revoke = writer.submit(RevokeApiKey(key_id=key.id, actor=ALICE))
    touch = writer.submit(TouchApiKeys(last_used=((key.id, T0 + timedelta(days=1)),)))
    jobs = [revoke, touch] if revoke_first else [touch, revoke]
    await asyncio.gather(*jobs)
    assert repository.calls["commit"] == 2
    assert await repository.inner.keys.get(key.id) is None
