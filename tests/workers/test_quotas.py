"""Namespace quotas: the pure ledger, and the Writer holding every create and update to it."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import pytest

from tests.storage.builders import AUDIT_KEY, make_record, unique_wasm
from tests.workers.jobs import ALICE, create, delete, update
from wess.errors import QuotaExceeded, StorageUnavailable
from wess.models import ModuleInfo
from wess.observability.metrics import Metrics
from wess.storage import PutModule
from wess.testing import RecordingStore
from wess.workers.quotas import NamespaceQuotas, Quota, QuotaLedger
from wess.workers.writer import Writer


def info(namespace: str = "ns", size: int = 100) -> ModuleInfo:
    return make_record(namespace=namespace, wasm=unique_wasm(str(uuid4()), size)).info


# -- the ledger, no I/O -------------------------------------------------------------------------


def test_a_create_past_max_modules_is_refused_naming_namespace_quota_and_usage() -> None:
    """The refusal says which namespace, what its quota is and what it holds."""
    ledger = QuotaLedger(NamespaceQuotas(default=Quota(max_modules=2)), {"ns": (2, 10)})
    draft = ledger.draft()
    with pytest.raises(QuotaExceeded) as caught:
        draft.charge(None, info())
    assert str(caught.value) == "namespace 'ns' holds 2 modules; its quota is 2 modules"
    assert caught.value.context == {
        "namespace": "ns",
        "quota": {"max_modules": 2},
        "usage": {"modules": 2},
    }
    assert caught.value.code == "quota_exceeded"


def test_bytes_count_replacements_and_frees() -> None:
    """An update charges only the difference; growth past max_bytes is refused, shrinking
    always passes (even over a quota lowered since), a delete frees everything."""
    ledger = QuotaLedger(NamespaceQuotas(default=Quota(max_bytes=250)), {})
    draft = ledger.draft()
    first = info(size=100)
    draft.charge(None, first)
    bigger = info(size=200)
    draft.charge(first, bigger)
    assert draft.usage("ns") == (1, 200)
    with pytest.raises(QuotaExceeded, match="holds 200 bytes of wasm; 100 more"):
        draft.charge(None, info(size=100))
    assert draft.usage("ns") == (1, 200)  # a refused job charges nothing
    over = QuotaLedger(NamespaceQuotas(default=Quota(max_bytes=10)), {"ns": (1, 200)}).draft()
    smaller = info(size=150)
    over.charge(bigger, smaller)
    assert over.usage("ns") == (1, 150)
    over.charge(smaller, None)
    assert over.usage("ns") == (0, 0)


def test_overrides_and_unlimited_namespaces() -> None:
    """A namespace named in ``overrides`` gets its own quota; None means no limit."""
    quotas = NamespaceQuotas(
        default=Quota(max_modules=1), overrides={"big": Quota(max_modules=None)}
    )
    draft = QuotaLedger(quotas, {"big": (1000, 0), "small": (1, 0)}).draft()
    draft.charge(None, info("big"))
    with pytest.raises(QuotaExceeded):
        draft.charge(None, info("small"))
    draft.charge(None, info("fresh"))


def test_moving_a_module_charges_the_new_namespace() -> None:
    """A change of namespace frees the old one and is held to the new one's quota."""
    quotas = NamespaceQuotas(overrides={"full": Quota(max_modules=0)})
    draft = QuotaLedger(quotas, {"a": (1, 100)}).draft()
    before = info("a")
    with pytest.raises(QuotaExceeded):
        draft.charge(before, info("full"))
    draft.charge(before, info("b", size=100))
    assert (draft.usage("a"), draft.usage("b")) == ((0, 0), (1, 100))


def test_a_draft_changes_the_ledger_only_when_merged() -> None:
    """Usage a batch charged counts for later batches only once merged (committed)."""
    ledger = QuotaLedger(NamespaceQuotas(), {"ns": (1, 5)})
    draft = ledger.draft()
    draft.charge(None, info(size=10))
    assert ledger.usage("ns") == (1, 5)
    ledger.merge(draft)
    assert ledger.usage("ns") == (2, 15)


def test_negative_quotas_are_refused() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        Quota(max_bytes=-1)


# -- the Writer ---------------------------------------------------------------------------------


def quotas(**limits: int) -> NamespaceQuotas:
    return NamespaceQuotas(default=Quota(**limits))


async def test_usage_stored_before_the_writer_started_counts(
    repository: RecordingStore, metrics: Metrics
) -> None:
    """The Writer reads the usage once at start: modules already stored use up quota, and
    the refused create commits nothing (its request records the refusal)."""
    await repository.inner.commit([PutModule(make_record())])
    async with Writer(
        repository, audit_key=AUDIT_KEY, metrics=metrics, quotas=quotas(max_modules=2)
    ) as writer:
        await writer.submit(create(seed="second"))
        with pytest.raises(QuotaExceeded, match="'default' holds 2 modules"):
            await writer.submit(create(seed="third", actor=ALICE))
    assert repository.calls["modules.namespace_usage"] == 1
    assert await repository.inner.modules.count() == 2
    assert await repository.inner.audit.list(after=0, limit=10) == []


async def test_jobs_of_one_batch_count_against_each_other(
    repository: RecordingStore, metrics: Metrics
) -> None:
    """Three creates in one batch under max_modules=2: the third is refused alone."""
    async with Writer(
        repository, audit_key=AUDIT_KEY, metrics=metrics, quotas=quotas(max_modules=2)
    ) as writer:
        results = await asyncio.gather(
            *(writer.submit(create(seed=str(i))) for i in range(3)), return_exceptions=True
        )
    assert [isinstance(r, QuotaExceeded) for r in results] == [False, False, True]
    assert repository.calls["commit"] == 1


async def test_deletes_and_shrinking_updates_free_quota(
    repository: RecordingStore, metrics: Metrics
) -> None:
    """max_bytes=200: an update replaces bytes rather than adding them, a delete frees its
    bytes, and a namespace's usage never limits another's."""
    async with Writer(
        repository, audit_key=AUDIT_KEY, metrics=metrics, quotas=quotas(max_bytes=200)
    ) as writer:
        first = create(seed="a", size=100)
        await writer.submit(first)
        await writer.submit(update(first, seed="b", size=150))
        with pytest.raises(QuotaExceeded):
            await writer.submit(create(seed="c", size=100))
        await writer.submit(create(seed="c", size=100, namespace="other"))
        await writer.submit(update(first, seed="d", size=50))
        await writer.submit(create(seed="e", size=150))
        with pytest.raises(QuotaExceeded):
            await writer.submit(create(seed="f", size=1))
        await writer.submit(delete(first))
        await writer.submit(create(seed="f", size=50))
    usage = await repository.inner.modules.namespace_usage()
    assert usage == {"default": (2, 200), "other": (1, 100)}


async def test_a_failed_commit_charges_nothing(
    repository: RecordingStore, metrics: Metrics
) -> None:
    """Creates whose commit failed do not use up quota."""
    async with Writer(
        repository, audit_key=AUDIT_KEY, metrics=metrics, quotas=quotas(max_modules=1)
    ) as writer:
        repository.commit_error = StorageUnavailable("disk on fire")
        with pytest.raises(StorageUnavailable):
            await writer.submit(create(seed="lost"))
        repository.commit_error = None
        await writer.submit(create(seed="kept"))
    assert await repository.inner.modules.count() == 1


async def test_without_quotas_usage_is_never_read(
    repository: RecordingStore, metrics: Metrics
) -> None:
    """quotas=None: no scan at start-up, no limit."""
    async with Writer(repository, audit_key=AUDIT_KEY, metrics=metrics) as writer:
        await asyncio.gather(*(writer.submit(create(seed=str(i))) for i in range(5)))
    assert repository.calls["modules.namespace_usage"] == 0
