"""Reader: cache first, store second; invalidated by ModuleChanged without stale refills."""

from __future__ import annotations

import asyncio
from uuid import UUID, uuid4

import pytest

from tests.storage.builders import AUDIT_KEY, make_content, make_record, unique_wasm
from wess.errors import IntegrityError, InvalidRequest, ModuleNotFound
from wess.messages import ChangeKind, ModuleChanged, UpdateModule
from wess.models import DEFAULT_NAMESPACE, ModuleRecord
from wess.observability.metrics import Metrics
from wess.storage import PutModule
from wess.testing import FakeClock, RecordingStore
from wess.workers.reader import RECORD_OVERHEAD, Reader, decode_cursor, encode_cursor
from wess.workers.writer import Writer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def reader(repository: RecordingStore, metrics: Metrics, clock: FakeClock) -> Reader:
    return Reader(
        repository.modules,
        metrics=metrics,
        ttl_seconds=60.0,
        clock=clock.monotonic,
        page_limit_max=50,
    )


async def stored(
    repository: RecordingStore, count: int = 1, *, namespace: str = DEFAULT_NAMESPACE
) -> list[ModuleRecord]:
    """``count`` distinct records committed straight to the store (not through the Reader)."""
    records = [
        make_record(namespace=namespace, wasm=unique_wasm(f"{namespace}{i}")) for i in range(count)
    ]
    await repository.inner.commit([PutModule(r) for r in records])
    return records


def cache_sample(metrics: Metrics, name: str) -> float:
    return metrics.registry.get_sample_value(name, {"cache": "modules"}) or 0.0


def changed(record: ModuleRecord) -> ModuleChanged:
    return ModuleChanged(
        change=ChangeKind.UPDATED,
        module_id=record.id,
        namespace=record.info.namespace,
        revision=record.info.revision + 1,
        digest="sha256:new",
        previous_digest=record.digest,
    )


async def test_second_get_is_served_from_the_cache(
    reader: Reader, repository: RecordingStore, metrics: Metrics
) -> None:
    """The first get reads the store and fills the cache; the next one does not read."""
    (record,) = await stored(repository)
    assert await reader.get(record.id) == record
    assert await reader.get(record.id) == record
    assert repository.calls["modules.get"] == 1
    assert cache_sample(metrics, "wess_cache_misses_total") == 1
    assert cache_sample(metrics, "wess_cache_hits_total") == 1
    assert cache_sample(metrics, "wess_cache_entries") == 1
    assert cache_sample(metrics, "wess_cache_bytes") == len(record.wasm) + RECORD_OVERHEAD


async def test_absent_or_foreign_modules_are_not_found(
    reader: Reader, repository: RecordingStore
) -> None:
    """An absent id, or one in another namespace (cached or not), is ModuleNotFound."""
    (record,) = await stored(repository, namespace="team")
    with pytest.raises(ModuleNotFound):
        await reader.get(uuid4())
    with pytest.raises(ModuleNotFound):
        await reader.get(record.id, namespace="other")  # from the store
    assert await reader.get(record.id, namespace="team") == record
    with pytest.raises(ModuleNotFound):
        await reader.get(record.id, namespace="other")  # from the cache
    with pytest.raises(ModuleNotFound):
        await reader.get_info(record.id, namespace="other")
    with pytest.raises(ModuleNotFound):
        await reader.get_info(uuid4())


async def test_get_info_does_not_read_bytes(reader: Reader, repository: RecordingStore) -> None:
    """get_info uses the cached record when there is one, else the store's get_info."""
    first, second = await stored(repository, 2)
    assert await reader.get_info(first.id) == first.info
    assert (repository.calls["modules.get"], repository.calls["modules.get_info"]) == (0, 1)
    await reader.get(second.id)
    assert await reader.get_info(second.id) == second.info
    assert repository.calls["modules.get_info"] == 1


async def test_module_changed_drops_the_cached_record(
    reader: Reader, repository: RecordingStore, metrics: Metrics
) -> None:
    """After an update through the Writer, the next get returns the new content."""
    (record,) = await stored(repository)
    async with Writer(repository, audit_key=AUDIT_KEY, metrics=metrics) as writer:
        writer.subscribe(reader.on_module_changed)
        assert (await reader.get(record.id)).digest == record.digest
        content = make_content(unique_wasm("new"))
        await writer.submit(
            UpdateModule(module_id=record.id, namespace=record.info.namespace, content=content)
        )
    assert (await reader.get(record.id)).digest == content.digest
    assert cache_sample(metrics, "wess_cache_entries") == 1


async def test_a_read_racing_an_update_does_not_cache_the_old_record(
    reader: Reader, repository: RecordingStore, metrics: Metrics
) -> None:
    """A get that read the old record before an update committed, and finishes after the
    invalidation, returns what it read but does not put it in the cache."""
    (record,) = await stored(repository)
    gate = repository.hold("modules.get", after=True)
    slow = asyncio.create_task(reader.get(record.id))
    await gate.reached.wait()  # it has the old record in hand
    async with Writer(repository, audit_key=AUDIT_KEY, metrics=metrics) as writer:
        writer.subscribe(reader.on_module_changed)
        content = make_content(unique_wasm("new"))
        await writer.submit(
            UpdateModule(module_id=record.id, namespace=record.info.namespace, content=content)
        )
    gate.open()
    assert (await slow).digest == record.digest
    assert (await reader.get(record.id)).digest == content.digest
    assert repository.calls["modules.get"] == 2


async def test_a_read_started_after_the_change_still_fills_the_cache(
    reader: Reader, repository: RecordingStore
) -> None:
    """The race guard only skips reads that overlapped a change; later ones cache again."""
    (record,) = await stored(repository)
    reader.on_module_changed(changed(record))
    await reader.get(record.id)
    await reader.get(record.id)
    assert repository.calls["modules.get"] == 1


async def test_entries_expire_after_the_ttl(
    reader: Reader, repository: RecordingStore, clock: FakeClock
) -> None:
    """Once ttl_seconds passed on the clock, get reads the store again."""
    (record,) = await stored(repository)
    await reader.get(record.id)
    clock.advance(59.0)
    await reader.get(record.id)
    assert repository.calls["modules.get"] == 1
    clock.advance(1.0)
    await reader.get(record.id)
    assert repository.calls["modules.get"] == 2


async def test_the_cache_is_bounded_by_bytes(repository: RecordingStore, metrics: Metrics) -> None:
    """Records beyond cache_bytes evict the least recently used; an oversized one is skipped."""
    size = 1000 + RECORD_OVERHEAD
    reader = Reader(repository.modules, metrics=metrics, cache_bytes=2 * size)
    small = [make_record(wasm=unique_wasm(str(i), 1000)) for i in range(3)]
    huge = make_record(wasm=unique_wasm("huge", 3 * size))
    await repository.inner.commit([PutModule(r) for r in [*small, huge]])
    for record in small:
        await reader.get(record.id)
    assert cache_sample(metrics, "wess_cache_evictions_total") == 1
    assert cache_sample(metrics, "wess_cache_bytes") == 2 * size
    await reader.get(huge.id)
    await reader.get(huge.id)
    assert repository.calls["modules.get"] == 5  # 3 small + the huge one twice
    assert cache_sample(metrics, "wess_cache_entries") == 2


async def test_a_zero_budget_disables_the_cache(
    repository: RecordingStore, metrics: Metrics
) -> None:
    """cache_bytes=0 caches nothing: every get reads the store."""
    reader = Reader(repository.modules, metrics=metrics, cache_bytes=0)
    (record,) = await stored(repository)
    assert await reader.get(record.id) == record
    assert await reader.get(record.id) == record
    assert repository.calls["modules.get"] == 2


async def test_integrity_errors_propagate_and_are_never_cached(
    reader: Reader, repository: RecordingStore
) -> None:
    """A record failing its digest check raises IntegrityError on every get."""
    record = make_record(digest="sha256:" + "0" * 64)
    await repository.inner.commit([PutModule(record)])
    for _ in range(2):
        with pytest.raises(IntegrityError):
            await reader.get(record.id)
    assert repository.calls["modules.get"] == 2


async def test_listing_pages_until_next_cursor_is_none(
    reader: Reader, repository: RecordingStore
) -> None:
    """Pages of ``limit`` follow id order; the last page (even a full one) has no cursor."""
    records = await stored(repository, 9)
    expected = sorted((r.id for r in records), key=str)
    seen: list[UUID] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await reader.list(namespace=None, cursor=cursor, limit=3)
        pages += 1
        seen += [info.id for info in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert (seen, pages) == (expected, 3)


async def test_listing_by_namespace_and_counting(
    reader: Reader, repository: RecordingStore
) -> None:
    """A namespace narrows both the listing and the count."""
    team = await stored(repository, 2, namespace="team")
    await stored(repository, 3, namespace="other")
    page = await reader.list(namespace="team", cursor=None, limit=10)
    assert {info.id for info in page.items} == {r.id for r in team}
    assert page.next_cursor is None
    assert await reader.count(namespace="team") == 2
    assert await reader.count() == 5


@pytest.mark.parametrize("limit", [0, -1, 51])
async def test_limit_outside_the_allowed_range_is_refused(reader: Reader, limit: int) -> None:
    """limit must be within 1..page_limit_max; the error names the range."""
    with pytest.raises(InvalidRequest, match="between 1 and 50"):
        await reader.list(namespace=None, cursor=None, limit=limit)


@pytest.mark.parametrize(
    "cursor", ["", "!!!", "not-a-cursor", "AAAA", "é", encode_cursor(uuid4()) + "A"]
)
async def test_malformed_cursors_are_refused(reader: Reader, cursor: str) -> None:
    """A cursor that is not one the Reader made is InvalidRequest."""
    with pytest.raises(InvalidRequest, match="cursor"):
        await reader.list(namespace=None, cursor=cursor, limit=5)


def test_cursors_round_trip() -> None:
    """A cursor is opaque urlsafe text that decodes to the id it was made from."""
    module_id = uuid4()
    cursor = encode_cursor(module_id)
    assert cursor.replace("-", "").replace("_", "").isalnum()
    assert decode_cursor(cursor) == module_id
