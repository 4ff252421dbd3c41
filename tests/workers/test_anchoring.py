"""The audit log's anchor and the one-time re-chaining of a log written unkeyed."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tests.storage.builders import AUDIT_KEY, make_entries, unkeyed
from wess.errors import IntegrityError
from wess.models import AuditEntry
from wess.security.anchor import AnchorFile
from wess.security.audit import Anchor, AuditKey, verify
from wess.storage import AppendAudit
from wess.storage.memory import MemoryStore
from wess.workers.anchoring import AnchorKeeper, check_anchor
from wess.workers.rechaining import rechain_unkeyed


async def test_a_log_written_unkeyed_is_re_chained_once_keeping_every_field():
    """Every entry gets the key's MAC in one commit, its fields and seq unchanged; the
    log then verifies under the key, and running it again changes nothing."""
    store = MemoryStore()
    old = unkeyed(make_entries(5))
    await store.commit([AppendAudit(e) for e in old])
    assert await rechain_unkeyed(store.audit, store.commit, AUDIT_KEY) == 5
    entries = await store.audit.list(after=0, limit=10)
    assert verify(entries, key=AUDIT_KEY).ok
    assert [(e.seq, e.actor, e.target, e.time) for e in entries] == [
        (e.seq, e.actor, e.target, e.time) for e in old
    ]
    assert await rechain_unkeyed(store.audit, store.commit, AUDIT_KEY) == 0


async def test_a_broken_unkeyed_log_is_not_sealed_under_the_key():
    """A plain chain already broken stops the re-chaining with the entry's number, and
    nothing is rewritten."""
    store = MemoryStore()
    old = unkeyed(make_entries(4))
    old[2] = dataclasses.replace(old[2], actor="someone-else")
    await store.commit([AppendAudit(e) for e in old])
    with pytest.raises(IntegrityError, match="broken at entry 3"):
        await rechain_unkeyed(store.audit, store.commit, AUDIT_KEY)
    assert await store.audit.list(after=0, limit=10) == old


async def test_the_anchor_must_match_the_stored_log(tmp_path: Path):
    """No anchor yet: nothing to check. An anchor naming the head: fine. The log cut
    below it, or holding another hash there: IntegrityError naming the anchored entry."""
    store = MemoryStore()
    entries = make_entries(3)
    await store.commit([AppendAudit(e) for e in entries])
    anchors = AnchorFile(tmp_path / "audit.anchor", AUDIT_KEY)
    assert await check_anchor(store.audit, anchors) is None
    anchors.write(Anchor(3, entries[2].hash))
    assert await check_anchor(store.audit, anchors) == Anchor(3, entries[2].hash)
    anchors.write(Anchor(4, "a" * 64))
    with pytest.raises(IntegrityError, match=r"ends at entry 3, but its anchor .* names entry 4"):
        await check_anchor(store.audit, anchors)
    anchors.write(Anchor(2, "b" * 64))
    with pytest.raises(IntegrityError, match="holds another entry 2"):
        await check_anchor(store.audit, anchors)


def test_an_anchor_file_that_was_edited_or_written_under_another_key_is_refused(
    tmp_path: Path,
):
    """The file is MACed: a changed seq, or another server's file, does not read."""
    path = tmp_path / "audit.anchor"
    AnchorFile(path, AUDIT_KEY).write(Anchor(7, "c" * 64))
    document = json.loads(path.read_text())
    path.write_text(json.dumps({**document, "seq": 3}))
    with pytest.raises(IntegrityError, match="does not carry this server's MAC"):
        AnchorFile(path, AUDIT_KEY).read()
    AnchorFile(path, AuditKey(bytes(range(9, 41)))).write(Anchor(7, "c" * 64))
    with pytest.raises(IntegrityError, match="MAC"):
        AnchorFile(path, AUDIT_KEY).read()
    path.write_text("{not json")
    with pytest.raises(IntegrityError, match="malformed"):
        AnchorFile(path, AUDIT_KEY).read()


async def test_the_keeper_writes_the_head_only_when_it_moved(tmp_path: Path):
    """Each flush records the current head if it is new; at exit, once more."""
    path = tmp_path / "audit.anchor"
    anchors = AnchorFile(path, AUDIT_KEY)
    entries = make_entries(2)
    head: list[AuditEntry] = []
    keeper = AnchorKeeper(anchors, lambda: head[-1] if head else None, interval=3600)
    async with keeper:
        await keeper.flush()
        assert not path.exists()
        head.append(entries[0])
        await keeper.flush()
        written = path.stat().st_ino  # a rewrite renames a new file into place
        await keeper.flush()
        assert path.stat().st_ino == written
        assert anchors.read() == Anchor(1, entries[0].hash)
        head.append(entries[1])
    assert anchors.read() == Anchor(2, entries[1].hash)
    assert keeper.anchored == Anchor(2, entries[1].hash)
