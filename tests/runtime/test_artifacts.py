"""AOT artifacts: export, seal, open and restore; flavors; refusal of anything not ours."""

from __future__ import annotations

import dataclasses

import pytest

from tests.fixtures import wasm
from wess.errors import MemoryLimitExceeded
from wess.models import SealedArtifact
from wess.runtime import Limits, Runtime, RuntimeConfig
from wess.runtime.artifact import (
    ArtifactSealer,
    ArtifactUnusable,
    decode_artifact,
    encode_artifact,
    flavor_of,
)
from wess.testing import RecordingObserver

KEY = bytes(range(32))


def sealed_sum(runtime: Runtime, name: str = "sum") -> tuple[SealedArtifact, ArtifactSealer]:
    sealer = ArtifactSealer(KEY, flavor=runtime.flavor)
    return sealer.seal(runtime.export(runtime.load(wasm(name)))), sealer


def test_restored_program_behaves_like_the_compiled_one(observer: RecordingObserver) -> None:
    """A program restored in a fresh runtime from an artifact has the same functions and
    results, and compiles nothing."""
    with Runtime() as first:
        sealed, sealer = sealed_sum(first, "kitchen_sink")
        compiled = first.load(wasm("kitchen_sink"))
    with Runtime(observer=observer) as second:
        restored = second.restore(sealer.open(sealed, digest=compiled.digest))
        assert observer.compiles == []
        assert dict(restored.functions) == dict(compiled.functions)
        assert restored.compiled.exports == compiled.compiled.exports
        assert restored.compiled.footprint == compiled.compiled.footprint
        assert second.cached(compiled.digest) is restored
        assert observer.misses == 1


def test_restored_program_still_blames_refused_grows() -> None:
    """The growguard rewrite survives the round trip: a grow refused by the memory limit
    is still reported as MemoryLimitExceeded, not as the guest's own trap."""
    with Runtime() as first:
        sealed, sealer = sealed_sum(first, "traps")
        digest = first.load(wasm("traps")).digest
    with Runtime(limits=Limits(max_memory=4 << 16)) as second:
        program = second.restore(sealer.open(sealed, digest=digest))
        assert program.compiled.guarded
        with pytest.raises(MemoryLimitExceeded) as caught:
            program.function("grow").invoke([100])
        assert caught.value.context["requested"] == 101 << 16


def test_a_flipped_byte_anywhere_is_rejected() -> None:
    """Changing any byte of a sealed artifact (tag, header or image) fails the seal."""
    with Runtime() as runtime:
        sealed, sealer = sealed_sum(runtime)
    for index in (0, 10, 45, len(sealed.data) // 2, len(sealed.data) - 1):
        data = bytearray(sealed.data)
        data[index] ^= 0x01
        forged = dataclasses.replace(sealed, data=bytes(data))
        with pytest.raises(ArtifactUnusable) as caught:
            sealer.open(forged, digest=sealed.digest)
        assert caught.value.outcome == "rejected"


def test_another_key_or_digest_is_rejected() -> None:
    """An artifact sealed under another key, or presented for another module, fails."""
    with Runtime() as runtime:
        sealed, sealer = sealed_sum(runtime)
    stranger = ArtifactSealer(bytes(32), flavor=sealer.flavor)
    for opener, digest in ((stranger, sealed.digest), (sealer, "sha256:" + "0" * 64)):
        with pytest.raises(ArtifactUnusable) as caught:
            opener.open(sealed, digest=digest)
        assert caught.value.outcome == "rejected"
    with pytest.raises(ArtifactUnusable):
        sealer.open(dataclasses.replace(sealed, data=b"short"), digest=sealed.digest)


def test_flavor_follows_every_engine_setting_that_shapes_code() -> None:
    """Stack size changes the flavor; cache size, tick and call path do not."""
    base = flavor_of(RuntimeConfig())
    assert flavor_of(RuntimeConfig(max_wasm_stack=256 << 10)) != base
    same = RuntimeConfig(cache_bytes=1, epoch_tick_ms=50, fast_path=False)
    assert flavor_of(same) == base
    assert base.startswith("wasmtime-")


def test_other_flavor_is_stale_and_never_deserialized() -> None:
    """An artifact of another flavor is refused by the sealer and by the runtime."""
    with Runtime() as runtime:
        sealed, sealer = sealed_sum(runtime)
        artifact = sealer.open(sealed, digest=sealed.digest)
    with Runtime(config=RuntimeConfig(max_wasm_stack=256 << 10)) as other:
        other_sealer = ArtifactSealer(KEY, flavor=other.flavor)
        with pytest.raises(ArtifactUnusable) as caught:
            other_sealer.open(sealed, digest=sealed.digest)
        assert caught.value.outcome == "stale"
        with pytest.raises(ArtifactUnusable) as restored:
            other.restore(artifact)
        assert restored.value.outcome == "stale"


def test_authentic_but_undeserializable_image_is_stale() -> None:
    """wasmtime's refusal of an image (sealed by us, yet not its own) is stale, not a crash."""
    with Runtime() as runtime:
        sealed, sealer = sealed_sum(runtime)
        artifact = sealer.open(sealed, digest=sealed.digest)
    junk = dataclasses.replace(artifact, image=b"\x7fELF not really")
    opened = sealer.open(sealer.seal(junk), digest=sealed.digest)
    with Runtime() as fresh, pytest.raises(ArtifactUnusable) as caught:
        fresh.restore(opened)
    assert caught.value.outcome == "stale"


def test_body_encoding_round_trips_and_refuses_garbage() -> None:
    """encode/decode keep every field; a truncated or non-JSON header is rejected."""
    with Runtime() as runtime:
        artifact = runtime.export(runtime.load(wasm("hello_wasi")))
    assert decode_artifact(encode_artifact(artifact)) == artifact
    for garbage in (b"\x00\x00\x10\x00{}", b"\x00\x00\x00\x02no"):
        with pytest.raises(ArtifactUnusable):
            decode_artifact(garbage)
