"""The ProgramLoader: stored artifacts first, compiles second, fresh artifacts kept."""

from __future__ import annotations

import dataclasses
from uuid import uuid4

import pytest

from tests.workers.serving import serving
from wess.errors import ModuleNotFound, PreconditionFailed
from wess.messages import StoreArtifact
from wess.models import ModuleInfo, SealedArtifact
from wess.runtime import RuntimeConfig
from wess.runtime.artifact import flavor_of
from wess.runtime.isolated import IsolatedCompiler
from wess.storage import PutArtifact
from wess.testing import RecordingStore

SMALL_STACK = RuntimeConfig(max_wasm_stack=256 << 10)


async def stored(
    repository: RecordingStore, info: ModuleInfo, flavor: str
) -> SealedArtifact | None:
    return await repository.modules.get_artifact(info.id, digest=info.digest, flavor=flavor)


async def test_upload_artifact_is_used_after_a_restart(repository: RecordingStore) -> None:
    """The artifact made while validating an upload is committed with the module; after
    a restart the first run loads it: a hit, and no compile."""
    async with serving(repository) as first:
        info = await first.create("sum")
        assert first.compiles == 1
    assert await stored(repository, info, flavor_of(RuntimeConfig())) is not None
    async with serving(repository) as second:
        assert await second.run(info.id, "sum", [2, 3]) == [5]
        assert second.compiles == 0
        assert second.artifacts("hit") == 1
        assert second.runtime.holds(info.digest)


async def test_missing_artifact_compiles_once_and_keeps_a_fresh_one(
    repository: RecordingStore,
) -> None:
    """A module stored without an artifact compiles on its first run (a miss) and the
    Writer stores the new artifact, which the next restart uses."""
    async with serving(repository) as first:
        info = await first.create("sum", with_artifact=False)
        first.runtime.evict(info.digest)
        assert await first.run(info.id, "sum", [1, 1]) == [2]
        assert first.artifacts("miss") == 1
        assert first.compiles == 2  # the upload, then the run
    assert await stored(repository, info, flavor_of(RuntimeConfig())) is not None
    async with serving(repository) as second:
        assert await second.run(info.id, "sum", [1, 1]) == [2]
        assert (second.compiles, second.artifacts("hit")) == (0, 1)


async def test_tampered_artifact_is_rejected_recompiled_and_replaced(
    repository: RecordingStore,
) -> None:
    """An artifact whose bytes changed fails its seal: counted as rejected, never
    deserialized, the module compiles, and a sound artifact replaces the forged one."""
    async with serving(repository) as first:
        info = await first.create("sum")
    flavor = flavor_of(RuntimeConfig())
    original = await stored(repository, info, flavor)
    assert original is not None
    data = bytearray(original.data)
    data[-100] ^= 0xFF  # inside the machine code
    forged = dataclasses.replace(original, data=bytes(data))
    await repository.commit([PutArtifact(info.id, forged)])
    async with serving(repository) as second:
        assert await second.run(info.id, "sum", [4, 4]) == [8]
        assert (second.artifacts("rejected"), second.compiles) == (1, 1)
    replaced = await stored(repository, info, flavor)
    assert replaced is not None
    assert replaced.data != forged.data
    async with serving(repository) as third:
        assert await third.run(info.id, "sum", [4, 4]) == [8]
        assert (third.artifacts("hit"), third.compiles) == (1, 0)


async def test_artifact_under_another_key_is_rejected(repository: RecordingStore) -> None:
    """A server with another secret cannot use (or be fooled by) this one's artifacts."""
    async with serving(repository) as first:
        info = await first.create("sum")
    async with serving(repository, key=bytes(32)) as other:
        assert await other.run(info.id, "sum", [1, 2]) == [3]
        assert (other.artifacts("rejected"), other.compiles) == (1, 1)


async def test_flavor_change_misses_and_stores_the_new_flavor(
    repository: RecordingStore,
) -> None:
    """A runtime built differently (another stack size) finds no artifact of its flavor,
    compiles, and stores one beside the old flavor's."""
    async with serving(repository) as first:
        info = await first.create("sum")
    async with serving(repository, config=SMALL_STACK) as second:
        assert await second.run(info.id, "sum", [1, 2]) == [3]
        assert (second.artifacts("miss"), second.compiles) == (1, 1)
    assert await stored(repository, info, flavor_of(SMALL_STACK)) is not None
    assert await stored(repository, info, flavor_of(RuntimeConfig())) is not None
    async with serving(repository, config=SMALL_STACK) as third:
        assert await third.run(info.id, "sum", [1, 2]) == [3]
        assert (third.artifacts("hit"), third.compiles) == (1, 0)


async def test_artifact_of_bytes_no_longer_stored_is_refused(
    repository: RecordingStore,
) -> None:
    """A StoreArtifact for bytes the module does not hold (any more) fails its
    precondition, and one for a module that is gone is not found; nothing is stored."""
    async with serving(repository) as service:
        old = await service.create("sum")
        artifact = await stored(repository, old, flavor_of(RuntimeConfig()))
        assert artifact is not None
        other = await service.create("counter")
        with pytest.raises(PreconditionFailed):
            await service.writer.submit(StoreArtifact(module_id=other.id, artifact=artifact))
        with pytest.raises(ModuleNotFound):
            await service.writer.submit(StoreArtifact(module_id=uuid4(), artifact=artifact))
    assert await stored(repository, other, artifact.flavor) is not None  # its own, untouched
    assert (
        await repository.modules.get_artifact(
            other.id, digest=artifact.digest, flavor=artifact.flavor
        )
        is None
    )


async def test_uploads_compile_in_the_isolated_compiler(repository: RecordingStore) -> None:
    """With an isolated compiler the upload compiles in a worker process and nothing is
    loaded in the server: its artifact, committed with the module, serves the first run
    (compiling nothing more) and a restart."""
    config = RuntimeConfig()
    with IsolatedCompiler(config, cpu_seconds=30, memory_bytes=1 << 30) as compiler:
        async with serving(repository, config=config, compiler=compiler) as service:
            info = await service.create("sum")
            assert not service.runtime.holds(info.digest)
            assert await service.run(info.id, "sum", [3, 4]) == [7]
            assert (service.compiles, service.artifacts("hit")) == (1, 1)
            assert service.runtime.holds(info.digest)
        assert await stored(repository, info, compiler.flavor) is not None
        async with serving(repository, config=config, compiler=compiler) as again:
            assert await again.run(info.id, "sum", [3, 4]) == [7]
            assert (again.artifacts("hit"), again.compiles) == (1, 0)


async def test_uploads_leave_the_compiled_cache_empty(repository: RecordingStore) -> None:
    """Storing modules keeps only their artifacts: the compiled cache stays empty and
    its gauges at zero, and each module's first run loads its artifact (a hit, no
    second compile), which then stays cached."""
    async with serving(repository) as service:
        infos = [await service.create(name) for name in ("sum", "numbers", "counter")]
        assert not any(service.runtime.holds(info.digest) for info in infos)
        assert service.sample("wess_cache_entries", cache="compiled") == 0
        assert service.sample("wess_cache_bytes", cache="compiled") == 0
        assert service.compiles == 3
        assert await service.run(infos[0].id, "sum", [2, 2]) == [4]
        assert (service.compiles, service.artifacts("hit")) == (3, 1)
        assert service.runtime.holds(infos[0].digest)
        assert service.sample("wess_cache_entries", cache="compiled") == 1


async def test_upload_of_a_cached_module_reuses_its_program(
    repository: RecordingStore,
) -> None:
    """Uploading bytes whose program is already cached compiles nothing: the artifact
    comes from that program."""
    async with serving(repository) as service:
        first = await service.create("sum")
        assert await service.run(first.id, "sum", [1, 2]) == [3]
        second = await service.create("sum")
        assert service.compiles == 1
        assert await stored(repository, second, flavor_of(RuntimeConfig())) is not None
