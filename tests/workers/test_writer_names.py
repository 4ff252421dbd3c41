"""The Writer keeps names unique per namespace, within a batch and across batches, and
keeps revisions: an update prunes past ``revisions_kept``, never what an alias pins."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from tests.storage.builders import AUDIT_KEY, make_content, unique_wasm
from tests.workers.jobs import create
from wess.errors import NameTaken, RevisionNotFound
from wess.messages import CreateModule, SetAlias, UpdateModule
from wess.models import AliasTarget
from wess.observability.metrics import Metrics
from wess.testing import RecordingStore
from wess.workers.writer import Writer


def named(job: CreateModule, name: str) -> CreateModule:
    return dataclasses.replace(job, content=dataclasses.replace(job.content, name=name))


def renamed(job: CreateModule, name: str, *, seed: str) -> UpdateModule:
    content = make_content(unique_wasm(seed), name=name)
    return UpdateModule(module_id=job.module_id, namespace=job.namespace, content=content)


async def test_two_creates_of_one_name_in_one_batch_one_wins(
    repository: RecordingStore, metrics: Metrics
) -> None:
    """Of concurrent creates of one name (one batch), the first is stored and the others
    are refused with name_taken; another namespace may use the name; a rename in the
    same batch frees the name for the job after it."""
    async with Writer(repository, audit_key=AUDIT_KEY, metrics=metrics) as writer:
        first, second = named(create(seed="a"), "adder"), named(create(seed="b"), "adder")
        elsewhere = named(create(seed="c", namespace="team-b"), "adder")
        results = await asyncio.gather(
            writer.submit(first),
            writer.submit(second),
            writer.submit(elsewhere),
            return_exceptions=True,
        )
        assert isinstance(results[1], NameTaken)
        assert not isinstance(results[0], BaseException)
        assert not isinstance(results[2], BaseException)
        assert repository.commit_sizes == [4]  # two modules, each with its revision
        moved, taker = renamed(first, "summer", seed="d"), named(create(seed="e"), "adder")
        done = await asyncio.gather(writer.submit(moved), writer.submit(taker))
        assert [info.name for info in done if info is not None] == ["summer", "adder"]
    assert await repository.inner.modules.find("default", "adder") == taker.module_id


async def test_updates_prune_past_retention_but_never_an_aliased_revision(
    repository: RecordingStore, metrics: Metrics
) -> None:
    """With revisions_kept=2 the third update prunes revision 2 but keeps revision 1,
    which an alias points at; aiming an alias at a pruned revision is refused."""
    async with Writer(repository, audit_key=AUDIT_KEY, metrics=metrics, revisions_kept=2) as writer:
        job = named(create(seed="v1"), "kept")
        await writer.submit(job)
        alias = SetAlias(
            module_id=job.module_id,
            namespace=job.namespace,
            alias="stable",
            targets=(AliasTarget(1, 1),),
        )
        await writer.submit(alias)
        for number in (2, 3, 4):
            info = await writer.submit(renamed(job, "kept", seed=f"v{number}"))
        assert info is not None
        assert [ref.number for ref in info.retained] == [1, 3, 4]
        assert await repository.inner.modules.get_revision(job.module_id, 2) is None
        assert await repository.inner.modules.get_revision(job.module_id, 1) is not None
        with pytest.raises(RevisionNotFound):
            await writer.submit(dataclasses.replace(alias, targets=(AliasTarget(2, 1),)))
