"""The ``AuditStore`` contract: an append-only log kept by sequence number. Run against
every backend."""

from __future__ import annotations

import pytest

from tests.storage.builders import (
    AUDIT_KEY,
    make_entries,
    make_record,
)
from wess.security.audit import verify
from wess.storage import (
    AppendAudit,
    PutModule,
    Store,
)


async def test_audit_entries_read_back_in_seq_order(store: Store) -> None:
    """Entries appended over several commits (past seq 255 and 65535's first byte) read back
    in seq order, page by ``after``/``limit``, and still verify as a chain."""
    assert await store.audit.head() is None
    assert await store.audit.list(after=0, limit=10) == []
    entries = make_entries(300)
    for start in range(0, 300, 64):
        await store.commit([AppendAudit(e) for e in entries[start : start + 64]])
    assert await store.audit.head() == entries[-1]
    assert await store.audit.list(after=0, limit=1000) == entries
    assert await store.audit.list(after=254, limit=3) == entries[254:257]
    assert await store.audit.list(after=300, limit=10) == []
    assert await store.audit.list(after=0, limit=0) == []
    assert verify(await store.audit.list(after=0, limit=1000), key=AUDIT_KEY).ok


async def test_audit_entries_are_never_replaced(store: Store) -> None:
    """Appending a seq that exists (stored, or earlier in the same commit) raises ValueError
    and applies nothing of that commit."""
    first, second = make_entries(2)
    await store.commit([AppendAudit(first)])
    record = make_record()
    with pytest.raises(ValueError, match="exists already"):
        await store.commit([PutModule(record), AppendAudit(first)])
    with pytest.raises(ValueError, match="exists already"):
        await store.commit([AppendAudit(second), AppendAudit(second)])
    assert await store.modules.get_info(record.id) is None
    assert await store.audit.list(after=0, limit=10) == [first]
