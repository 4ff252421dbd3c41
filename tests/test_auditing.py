"""Refusals in the audit log: one entry per refused request, floods of denials counted.

RefusalWindows decides on a fake clock; the Auditor writes through a real Writer.
"""

from __future__ import annotations

from tests.storage.builders import AUDIT_KEY
from wess.auditing import OVERFLOW, Auditor, RefusalWindows
from wess.errors import PermissionDenied, Unauthenticated
from wess.models import AuditFields
from wess.observability.metrics import Metrics
from wess.storage.memory import MemoryStore
from wess.testing import FakeClock
from wess.workers.writer import Writer


def denial(ip: str = "198.51.100.1", outcome: str = "unauthenticated", n: int = 0) -> AuditFields:
    return AuditFields(
        time="2026-01-31T12:00:00.000000Z",
        actor=f"unauthenticated:{n:016x}",  # attacker-chosen: never part of the key
        namespace=None,
        action="module.create",
        target=f"/v1/modules?{n}",
        outcome=outcome,
        request_id=None,
        client_ip=ip,
    )


def test_the_first_denial_of_a_window_is_written_the_rest_counted():
    """One source, one outcome: the first at once; 199 more become one entry with count
    199 when the window ends, carrying the last one's fields."""
    clock = FakeClock()
    windows = RefusalWindows(window=60, sources=100, clock=clock.monotonic)
    assert windows.admit(denial(n=0)) == [denial(n=0)]
    assert all(windows.admit(denial(n=i)) == [] for i in range(1, 200))
    assert windows.due() == []
    clock.advance(60)
    (aggregate,) = windows.due()
    assert (aggregate.count, aggregate.target) == (199, "/v1/modules?199")
    assert windows.due() == []


def test_sources_and_outcomes_are_counted_apart_and_a_new_window_flushes_the_old():
    """Another address or outcome opens its own window; a denial after a window ended
    writes that window's aggregate before itself."""
    clock = FakeClock()
    windows = RefusalWindows(window=60, sources=100, clock=clock.monotonic)
    assert len(windows.admit(denial("198.51.100.1"))) == 1
    assert len(windows.admit(denial("198.51.100.2"))) == 1
    assert len(windows.admit(denial("198.51.100.1", "permission_denied"))) == 1
    windows.admit(denial("198.51.100.1", n=1))
    clock.advance(61)
    aggregate, fresh = windows.admit(denial("198.51.100.1", n=2))
    assert (aggregate.count, fresh.count, fresh.target) == (1, 1, "/v1/modules?2")


def test_past_the_table_further_sources_share_one_window_per_outcome():
    """Rotating addresses cannot grow the table without bound: past ``sources`` they are
    counted under one overflow key per outcome."""
    clock = FakeClock()
    windows = RefusalWindows(window=60, sources=2, clock=clock.monotonic)
    written = [windows.admit(denial(f"203.0.113.{i}")) for i in range(50)]
    assert [len(w) for w in written] == [1, 1, 1] + [0] * 47
    (aggregate,) = [e for e in windows.due(everything=True) if e.count > 1]
    assert aggregate.count == 47
    assert OVERFLOW == "*"


async def test_the_auditor_writes_aggregates_as_windows_end_and_at_exit():
    """Through a real Writer: 200 denials from one address leave 2 entries (the first,
    then one with count 199); denials still counted at shutdown are written then."""
    store = MemoryStore()
    clock = FakeClock()
    async with Writer(store, audit_key=AUDIT_KEY, metrics=Metrics()) as writer:
        auditor = Auditor(writer, metrics=Metrics(), monotonic=clock.monotonic, window=60)
        async with auditor:
            for i in range(200):
                await auditor.denied(
                    Unauthenticated("bad key", reason="unknown_key"),
                    actor=f"unauthenticated:{i}",
                    action="module.create",
                    namespace=None,
                    target="/" + "x" * 70_000,
                    request_id=None,
                    client_ip="198.51.100.1",
                )
            await auditor.denied(
                PermissionDenied("no"),
                actor="api_key:viewer",
                action="module.create",
                namespace="a",
                target="/v1/modules",
                request_id=None,
                client_ip="198.51.100.1",
            )
            clock.advance(60)
            await auditor.flush()
            entries = await store.audit.list(after=0, limit=10)
            assert [(e.outcome, e.count) for e in entries] == [
                ("unauthenticated", 1),
                ("permission_denied", 1),
                ("unauthenticated", 199),
            ]
            assert all(len(e.target or "") < 300 for e in entries)
            for _ in range(3):  # a new window: the first written, two counted
                await auditor.denied(
                    PermissionDenied("no"),
                    actor="api_key:viewer",
                    action="module.create",
                    namespace="a",
                    target="/v1/modules",
                    request_id=None,
                    client_ip="198.51.100.1",
                )
        entries = await store.audit.list(after=0, limit=10)
    # the counted two were still in their window at shutdown: written on the way out
    assert [(e.outcome, e.count) for e in entries[3:]] == [
        ("permission_denied", 1),
        ("permission_denied", 2),
    ]
