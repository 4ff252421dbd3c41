"""Warm-up: the most-invoked modules' artifacts load at start-up, in the background."""

from __future__ import annotations

import asyncio
from uuid import UUID

from tests.workers.serving import Serving, serving
from wess.models import ModuleInfo
from wess.storage import AddUsage
from wess.testing import RecordingStore
from wess.workers.warmup import Warmup


def warmup_of(service: Serving, limit: int) -> Warmup:
    return Warmup(
        most_used=service.store.usage.most_used,
        fetch=service.reader.get,
        prewarm=service.runner.prewarm,
        limit=limit,
    )


async def three_used_modules(repository: RecordingStore) -> list[ModuleInfo]:
    """sum (used 9 times), counter (5), numbers (1), each with its artifact."""
    async with serving(repository) as first:
        infos = [await first.create(name) for name in ("sum", "counter", "numbers")]
    uses = tuple((info.id, n) for info, n in zip(infos, (9, 5, 1), strict=True))
    await repository.commit([AddUsage(uses)])
    return infos


async def test_warmup_loads_the_top_modules_without_compiling(
    repository: RecordingStore,
) -> None:
    """With limit 2, the two most-used modules are compiled-cache hits after the warm-up;
    the third is not loaded; nothing compiles."""
    top, second, third = await three_used_modules(repository)
    async with serving(repository) as restarted:
        async with warmup_of(restarted, 2) as warmup:
            snapshot = await warmup.wait()
        assert snapshot == {"state": "done", "loaded": 2, "skipped": 0, "total": 2}
        assert restarted.runtime.holds(top.digest)
        assert restarted.runtime.holds(second.digest)
        assert not restarted.runtime.holds(third.digest)
        assert (restarted.compiles, restarted.artifacts("hit")) == (0, 2)
        assert await restarted.run(top.id, "sum", [1, 2]) == [3]
        assert restarted.artifacts("hit") == 2  # served from the compiled cache


async def test_modules_without_a_usable_artifact_are_skipped(
    repository: RecordingStore,
) -> None:
    """A used module without an artifact is skipped, not compiled; a count for a module
    that never existed is not even ranked."""
    async with serving(repository) as first:
        bare = await first.create("sum", with_artifact=False)
    ghost = UUID(int=7)
    await repository.commit([AddUsage(((bare.id, 3), (ghost, 1)))])
    async with serving(repository) as restarted:
        async with warmup_of(restarted, 32) as warmup:
            snapshot = await warmup.wait()
        assert snapshot == {"state": "done", "loaded": 0, "skipped": 1, "total": 1}
        assert restarted.compiles == 0
        assert not restarted.runtime.holds(bare.digest)


async def test_progress_is_visible_while_running_and_zero_disables(
    repository: RecordingStore,
) -> None:
    """The snapshot says running until the work is done; limit 0 is done at once."""
    infos = await three_used_modules(repository)
    release = asyncio.Event()
    async with serving(repository) as restarted:

        async def slow_most_used(limit: int) -> list[tuple[UUID, int]]:
            await release.wait()
            return await restarted.store.usage.most_used(limit)

        warmup = Warmup(
            most_used=slow_most_used,
            fetch=restarted.reader.get,
            prewarm=restarted.runner.prewarm,
            limit=3,
        )
        async with warmup:
            await asyncio.sleep(0)
            assert warmup.snapshot() == {"state": "running", "loaded": 0, "skipped": 0, "total": 0}
            release.set()
            assert (await warmup.wait())["loaded"] == len(infos)
        async with warmup_of(restarted, 0) as disabled:
            assert disabled.snapshot() == {"state": "done", "loaded": 0, "skipped": 0, "total": 0}
