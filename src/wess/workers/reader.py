"""``Reader``: module lookups, cache first and store second.

Whole records (bytes included) are cached in a ``ByteLRU`` weighed by their size, with
a time-to-live, and dropped when the Writer publishes ``ModuleChanged``. A lookup that
was already reading the store when a change was published does not put what it read
into the cache: per-key generations, counted only while a read is in flight, tell it
that its copy may be stale.

Reads from the store are bounded like every queue: at most ``queue_size`` of them
(records, metadata, listings, counts, artifacts) may be waiting or running at once;
one more is refused with ``Overloaded`` straight away.

When storage is unavailable (down, or its circuit breaker open), a record the cache
still holds past its time-to-live is served all the same, counted in
``wess_stale_reads_total``: the TTL guards against changes this node was not told of,
and an outage is no such change. A record dropped because it changed is never served.
A run's store read is bounded by the request's deadline (``storage`` layer).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import time
from collections.abc import Callable, Iterator
from uuid import UUID

from wess.cache import ByteLRU
from wess.errors import (
    InvalidRequest,
    ModuleNotFound,
    Overloaded,
    RevisionNotFound,
    StorageUnavailable,
)
from wess.messages import ModuleChanged
from wess.models import ModuleInfo, ModuleRecord, Page, SealedArtifact
from wess.observability.metrics import Metrics
from wess.observability.tracing import NO_SPAN, Tracing
from wess.runtime.reasons import clipped
from wess.storage import ModuleStore
from wess.workers.deadline import STORAGE, Deadline

CACHE = "modules"
QUEUE = "reader"
NAMES_CACHED = 65536
"""Names resolved to ids kept at most; past it, all are dropped (and read again)."""
RECORD_OVERHEAD = 1024
"""Bytes charged per cached record on top of its wasm: the metadata and bookkeeping."""


def weigh(record: ModuleRecord) -> int:
    """What a cached record costs against the byte budget."""
    return len(record.wasm) + RECORD_OVERHEAD


class Reader:
    """Reads modules for the API and the Runner; see the module docstring."""

    def __init__(
        self,
        modules: ModuleStore,
        *,
        metrics: Metrics,
        cache_bytes: int | None = 64 << 20,
        cache_entries: int | None = None,
        ttl_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        page_limit_max: int = 1000,
        queue_size: int = 1024,
        tracing: Tracing | None = None,
    ) -> None:
        self._modules = modules
        self._tracing = tracing
        self._metrics = metrics
        self._page_limit_max = page_limit_max
        self._queue_size = queue_size
        self._store_reads = 0
        self._depth = metrics.queue_depth.labels(queue=QUEUE)
        hits = metrics.cache_hits.labels(cache=CACHE)
        self._cache: ByteLRU[UUID, ModuleRecord] = ByteLRU(
            cache_bytes,
            max_entries=cache_entries,
            weigh=weigh,
            ttl_seconds=ttl_seconds,
            clock=clock,
            on_hit=lambda _: hits.inc(),
            on_miss=lambda _: metrics.cache_misses.labels(cache=CACHE).inc(),
            on_evict=self._evicted,
            keep_expired=True,
        )
        # the plain cache lookup when tracing is off: no span, no extra frame
        self._lookup = self._cache.get if tracing is None else self._traced_lookup
        self._revisions: ByteLRU[tuple[UUID, int], ModuleRecord] = ByteLRU(
            None if cache_bytes is None else max(cache_bytes // 4, 1),
            max_entries=cache_entries,
            weigh=weigh,
            ttl_seconds=ttl_seconds,
            clock=clock,
        )
        self._names: dict[tuple[str, str], UUID] = {}  # (namespace, name) -> id
        self._named: dict[UUID, set[tuple[str, str]]] = {}  # id -> its cached names
        self._name_generation = 0  # changes seen: a lookup in flight does not cache
        self._reading: dict[UUID, int] = {}  # store reads in flight per module
        self._generation: dict[UUID, int] = {}  # changes seen while those reads ran

    def resize_cache(
        self, cache_bytes: int | None, *, cache_entries: int | None = None, ttl_seconds: float
    ) -> None:
        """New bounds and time-to-live of the module cache (a reload); modules leave at
        once to fit."""
        self._cache.resize(cache_bytes, max_entries=cache_entries, ttl_seconds=ttl_seconds)
        self._metrics.cache_bytes.labels(cache=CACHE).set(self._cache.bytes)

    async def get(
        self, module_id: UUID, *, namespace: str | None = None, deadline: Deadline | None = None
    ) -> ModuleRecord:
        """The module with its verified bytes; ``ModuleNotFound`` if absent or elsewhere.
        A store read is bounded by ``deadline`` (``DeadlineExceeded``, layer ``storage``)."""
        record = self._lookup(module_id)
        if record is None:
            record = await self._load(module_id, deadline)
        if record is None or not _visible(record.info, namespace):
            raise _not_found(module_id)
        return record

    async def get_revision(
        self,
        module_id: UUID,
        revision: int,
        *,
        namespace: str | None = None,
        deadline: Deadline | None = None,
    ) -> ModuleRecord:
        """One retained revision of the module with its bytes; ``RevisionNotFound`` if
        the module does not retain it (``ModuleNotFound`` if absent or elsewhere).
        Revisions never change, so they are cached without invalidation: the module's
        own record, which is invalidated, says which are retained."""
        head = await self.get(module_id, namespace=namespace, deadline=deadline)
        if head.info.revision == revision:
            return head
        if head.info.retained_revision(revision) is None:
            raise _no_revision(module_id, revision, head.info)
        key = (module_id, revision)
        record = self._revisions.get(key)
        if record is None:
            with self._store_read():
                read = self._modules.get_revision(module_id, revision)
                if deadline is None:
                    record = await read
                else:
                    async with deadline.bounded(STORAGE):
                        record = await read
            if record is None:
                raise _no_revision(module_id, revision, head.info)
            self._revisions.put(key, record)
        return record

    async def find(self, namespace: str, name: str) -> UUID:
        """The id of the module named ``name`` in ``namespace`` (``ModuleNotFound`` if
        none); cached until a change of that module is published."""
        key = (namespace, name)
        found = self._names.get(key)
        if found is not None:
            return found
        generation = self._name_generation
        with self._store_read():
            found = await self._modules.find(namespace, name)
        if found is None:
            raise ModuleNotFound(
                f"no module named {clipped(name)!r} in namespace {clipped(namespace)!r}",
                name=name,
            )
        if generation == self._name_generation:
            self._names[key] = found
            self._named.setdefault(found, set()).add(key)
            if len(self._names) > NAMES_CACHED:
                self._forget_names()
        return found

    async def get_info(self, module_id: UUID, *, namespace: str | None = None) -> ModuleInfo:
        """The module's metadata, without reading its bytes when they are not cached."""
        record = self._cache.get(module_id)
        if record is not None:
            info: ModuleInfo | None = record.info
        else:
            try:
                with self._store_read():
                    info = await self._modules.get_info(module_id)
            except StorageUnavailable as exc:
                info = self._stale(module_id, exc).info
        if info is None or not _visible(info, namespace):
            raise _not_found(module_id)
        return info

    async def list(self, *, namespace: str | None, cursor: str | None, limit: int) -> Page:
        """One page of modules ordered by id; pass ``next_cursor`` back for the next."""
        if not 1 <= limit <= self._page_limit_max:
            raise InvalidRequest(
                f"limit must be between 1 and {self._page_limit_max}, got {limit}",
                field="limit",
            )
        after = None if cursor is None else decode_cursor(cursor)
        with self._store_read():
            found = await self._modules.list(namespace=namespace, after=after, limit=limit + 1)
        items = tuple(found[:limit])
        more = len(found) > limit
        return Page(items=items, next_cursor=encode_cursor(items[-1].id) if more else None)

    async def count(self, *, namespace: str | None = None) -> int:
        """How many modules are stored (in ``namespace``, or in all)."""
        with self._store_read():
            return await self._modules.count(namespace=namespace)

    async def get_artifact(
        self, module_id: UUID, digest: str, flavor: str
    ) -> SealedArtifact | None:
        """The module's stored artifact for ``digest`` and ``flavor``; never cached here
        (the compiled-module cache holds what it becomes)."""
        with self._store_read():
            return await self._modules.get_artifact(module_id, digest=digest, flavor=flavor)

    def on_module_changed(self, event: ModuleChanged) -> None:
        """Forget the changed module; subscribe this to the Writer."""
        if event.module_id in self._reading:
            self._generation[event.module_id] = self._generation.get(event.module_id, 0) + 1
        self._cache.pop(event.module_id)
        self._name_generation += 1
        for key in self._named.pop(event.module_id, ()):  # renamed or deleted, maybe
            self._names.pop(key, None)
        self._report()

    def forget_everything(self) -> None:
        """Drop every cached record (changes may have been missed: another node's feed
        was lost); reads already in flight do not cache what they read either."""
        for module_id in self._reading:
            self._generation[module_id] = self._generation.get(module_id, 0) + 1
        self._cache.clear()
        self._forget_names()
        self._report()

    def _forget_names(self) -> None:
        self._name_generation += 1
        self._names.clear()
        self._named.clear()

    async def _load(self, module_id: UUID, deadline: Deadline | None) -> ModuleRecord | None:
        self._reading[module_id] = self._reading.get(module_id, 0) + 1
        generation = self._generation.get(module_id, 0)
        try:
            try:
                with self._store_read():
                    read = self._modules.get(module_id)
                    if deadline is None:
                        record = await read
                    else:
                        async with deadline.bounded(STORAGE):
                            record = await read
            except StorageUnavailable as exc:
                return self._stale(module_id, exc)
            if record is not None and self._generation.get(module_id, 0) == generation:
                self._cache.put(module_id, record)
                self._report()
            if deadline is not None:  # late, but read: cached for the next request
                deadline.check(STORAGE)
            return record
        finally:
            self._reading[module_id] -= 1
            if not self._reading[module_id]:
                del self._reading[module_id]
                self._generation.pop(module_id, None)

    def _traced_lookup(self, module_id: UUID) -> ModuleRecord | None:
        assert self._tracing is not None
        with self._tracing.span("cache lookup", {"wess.cache": CACHE}, leaf=True) as span:
            record = self._cache.get(module_id)
            if span is not None:
                span.set_attribute("wess.cache.hit", record is not None)
            return record

    def _stale(self, module_id: UUID, error: StorageUnavailable) -> ModuleRecord:
        """The cached copy past its TTL, while storage is unavailable; else ``error``."""
        record = self._cache.stale(module_id)
        if record is None:
            raise error
        self._metrics.stale_reads.inc()
        return record

    @contextlib.contextmanager
    def _store_read(self) -> Iterator[None]:
        """One read from the store, admitted while fewer than ``queue_size`` are."""
        if self._store_reads >= self._queue_size:
            self._metrics.queue_rejections.labels(queue=QUEUE).inc()
            raise Overloaded(
                f"the Reader already has {self._store_reads} module reads waiting or running, "
                "the most it may (reader.channel_size); retry shortly",
                retry_after=1,
                queue=QUEUE,
            )
        self._store_reads += 1
        self._depth.set(self._store_reads)
        tracing = self._tracing
        try:
            with NO_SPAN if tracing is None else tracing.span("storage read", leaf=True):
                yield
        finally:
            self._store_reads -= 1
            self._depth.set(self._store_reads)

    def _evicted(self, _: UUID) -> None:
        self._metrics.cache_evictions.labels(cache=CACHE).inc()
        self._report()

    def _report(self) -> None:
        self._metrics.cache_bytes.labels(cache=CACHE).set(self._cache.bytes)
        self._metrics.cache_entries.labels(cache=CACHE).set(len(self._cache))


def encode_cursor(after: UUID) -> str:
    """The opaque cursor that continues a listing after ``after``."""
    return base64.urlsafe_b64encode(after.bytes).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> UUID:
    """The id a cursor continues after; ``InvalidRequest`` if it is not one we made."""
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        after = UUID(bytes=raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequest(f"malformed cursor {cursor!r}", field="cursor") from exc
    if encode_cursor(after) != cursor:  # only the exact spelling we hand out
        raise InvalidRequest(f"malformed cursor {cursor!r}", field="cursor")
    return after


def _visible(info: ModuleInfo, namespace: str | None) -> bool:
    return namespace is None or info.namespace == namespace


def _no_revision(module_id: UUID, revision: int, info: ModuleInfo) -> RevisionNotFound:
    kept = ", ".join(str(ref.number) for ref in info.retained)
    return RevisionNotFound(
        f"module {module_id} retains no revision {revision} (it retains {kept})",
        module_id=str(module_id),
        revision=revision,
    )


def _not_found(module_id: UUID) -> ModuleNotFound:
    return ModuleNotFound(f"module {module_id} not found", module_id=str(module_id))
