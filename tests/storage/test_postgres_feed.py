"""The PostgreSQL change feed: events published in a commit reach every listener once
it is durable; a lost connection is a gap (caches dropped), then listening resumes."""

from __future__ import annotations

import asyncio
import secrets
from uuid import uuid4

import psycopg
import pytest

from tests.support import POSTGRES, postgres_schema
from wess.messages import ApiKeyChanged, ChangeKind, ModuleChanged
from wess.storage import Event, PublishEvent, open_store
from wess.storage.postgres import PostgresStore

EVENT = ModuleChanged(
    change=ChangeKind.UPDATED,
    module_id=uuid4(),
    namespace="team",
    revision=2,
    digest="sha256:" + "b" * 64,
    previous_digest="sha256:" + "a" * 64,
)


async def wait_for(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(500):  # a guard of 10 s, not a measure
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what} did not happen")


async def test_events_of_a_commit_reach_the_feed_and_a_lost_connection_is_a_gap() -> None:
    with postgres_schema(f"t_{secrets.token_hex(6)}") as url:
        async with open_store(url) as store:
            assert isinstance(store, PostgresStore)
            feed = store.feed()
            heard: list[Event] = []
            gaps: list[int] = []
            feed.subscribe(heard.append)
            feed.on_gap(lambda: gaps.append(1))
            async with feed:
                await wait_for(lambda: feed.listening, "listening")
                await store.commit(
                    [PublishEvent(EVENT), PublishEvent(ApiKeyChanged(key_id="k", key=None))]
                )
                await wait_for(lambda: len(heard) == 2, "two events")
                assert heard == [EVENT, ApiKeyChanged(key_id="k", key=None)]
                first = len(gaps)
                with psycopg.connect(POSTGRES, autocommit=True) as conn:
                    conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE query ILIKE %s AND pid <> pg_backend_pid()",
                        (f"%LISTEN%{store._channel}%",),
                    )
                await wait_for(lambda: len(gaps) >= first + 2, "the gap, then listening again")
                assert feed.listening
                await store.commit([PublishEvent(EVENT)])
                await wait_for(lambda: len(heard) == 3, "an event after the gap")


async def test_an_event_of_a_commit_that_fails_is_never_heard() -> None:
    """pg_notify rides in the transaction: a commit refused (an audit entry that exists)
    sends nothing."""
    from tests.storage.builders import make_entries
    from wess.storage import AppendAudit

    with postgres_schema(f"t_{secrets.token_hex(6)}") as url:
        async with open_store(url) as store:
            feed = store.feed()
            assert feed is not None
            heard: list[Event] = []
            feed.subscribe(heard.append)
            async with feed:
                await wait_for(lambda: feed.listening, "listening")
                (entry,) = make_entries(1)
                await store.commit([AppendAudit(entry)])
                with pytest.raises(ValueError, match="exists already"):
                    await store.commit([PublishEvent(EVENT), AppendAudit(entry)])
                await store.commit([PublishEvent(ApiKeyChanged(key_id="k", key=None))])
                await wait_for(lambda: len(heard) == 1, "the later event")
                assert heard == [ApiKeyChanged(key_id="k", key=None)]
