"""AOT artifacts: a compiled module as bytes, sealed so that only Wess's own get loaded.

``wasmtime.Module.deserialize`` trusts its input completely (it maps machine code), so
bytes Wess did not produce must never reach it. An artifact is sealed with
HMAC-SHA256 under a key the composition root derives from the server secret; the tag
covers the flavor, the module digest and every byte after the tag, and it is checked
in constant time before anything else is read.

The flavor names everything that decides the generated code: the wasmtime version,
the machine, every engine setting Wess changes (``engine.engine_settings``) and
``ARTIFACT_FORMAT``. Stores key artifacts by flavor, so one of another flavor is
simply not found, and the module compiles again.

A sealed artifact is laid out as

    b"wess-aot" | tag (32 bytes) | header length (u32, big-endian) | header (JSON) | image

where the image is ``Module.serialize()`` and the header holds what a ``Program``
needs besides machine code: the analysis, the footprint, whether grows are guarded,
the export names and the size of the wasm.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.metadata
import platform
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from wess.models import FunctionSignature, SealedArtifact, ValueType
from wess.runtime.analysis import ModuleAnalysis
from wess.runtime.engine import RuntimeConfig, engine_settings
from wess.runtime.growguard import Footprint

ARTIFACT_FORMAT = 1
"""Bump when the header layout, the growguard rewrite or the analysis changes: every
artifact stored before then belongs to another flavor and is recompiled."""
WASMTIME_VERSION = importlib.metadata.version("wasmtime")
MAGIC = b"wess-aot"
TAG_BYTES = 32
LENGTH_BYTES = 4
DOMAIN = b"wess-artifact/1\x00"

Outcome = Literal["rejected", "stale"]


class ArtifactUnusable(Exception):
    """An artifact that a compile must replace; never leaves the loader.

    ``outcome`` is ``rejected`` (not authentic, or malformed) or ``stale`` (authentic,
    but for another flavor, or refused by this wasmtime).
    """

    def __init__(self, outcome: Outcome, reason: str) -> None:
        super().__init__(reason)
        self.outcome: Outcome = outcome
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class Artifact:
    """A compiled module outside any engine: its serialized image and what compiling
    it taught the runtime. Only ever built by Wess (a compile, or a verified seal)."""

    digest: str
    flavor: str
    image: bytes = field(repr=False)
    analysis: ModuleAnalysis
    footprint: Footprint
    guarded: bool
    exports: frozenset[str]
    wasm_size: int


def flavor_of(config: RuntimeConfig) -> str:
    """``wasmtime-<version>+<fingerprint>`` of the code an engine built from ``config``
    generates; two runtimes share artifacts only if their flavors are equal."""
    settings = {
        "format": ARTIFACT_FORMAT,
        "machine": platform.machine(),
        "engine": engine_settings(config),
    }
    fingerprint = hashlib.sha256(orjson.dumps(settings, option=orjson.OPT_SORT_KEYS))
    return f"wasmtime-{WASMTIME_VERSION}+{fingerprint.hexdigest()[:16]}"


class ArtifactSealer:
    """Seals artifacts of one flavor under ``key``, and opens only what it sealed."""

    def __init__(self, key: bytes, *, flavor: str) -> None:
        if len(key) < 32:
            raise ValueError("an artifact key must be at least 32 bytes")
        self._key = key
        self.flavor = flavor

    def seal(self, artifact: Artifact) -> SealedArtifact:
        """The stored form of ``artifact``: its body behind an authentication tag."""
        if artifact.flavor != self.flavor:
            raise ValueError(f"artifact of flavor {artifact.flavor}, sealer of {self.flavor}")
        body = encode_artifact(artifact)
        tag = self._tag(artifact.digest, body)
        return SealedArtifact(
            digest=artifact.digest, flavor=self.flavor, data=b"".join((MAGIC, tag, body))
        )

    def open(self, sealed: SealedArtifact, *, digest: str) -> Artifact:
        """The artifact of module ``digest`` in ``sealed``, after checking its tag;
        ``ArtifactUnusable`` for anything that is not an artifact this key sealed for
        this flavor and digest."""
        if sealed.flavor != self.flavor:
            raise ArtifactUnusable("stale", f"artifact of flavor {sealed.flavor}")
        data = memoryview(sealed.data)
        if bytes(data[: len(MAGIC)]) != MAGIC or len(data) < len(MAGIC) + TAG_BYTES:
            raise ArtifactUnusable("rejected", "not a Wess artifact")
        tag = bytes(data[len(MAGIC) : len(MAGIC) + TAG_BYTES])
        body = data[len(MAGIC) + TAG_BYTES :]
        if not hmac.compare_digest(tag, self._tag(digest, body)):
            raise ArtifactUnusable("rejected", "authentication tag mismatch")
        artifact = decode_artifact(body)
        if artifact.digest != digest or artifact.flavor != self.flavor:
            raise ArtifactUnusable("rejected", "artifact names another module or flavor")
        return artifact

    def _tag(self, digest: str, body: bytes | memoryview) -> bytes:
        mac = hmac.new(self._key, DOMAIN, hashlib.sha256)
        mac.update(self.flavor.encode() + b"\x00" + digest.encode() + b"\x00")
        mac.update(body)
        return mac.digest()


def encode_artifact(artifact: Artifact) -> bytes:
    """The unsealed body: header length, JSON header, image. Pure."""
    header = orjson.dumps(
        {
            "digest": artifact.digest,
            "flavor": artifact.flavor,
            "functions": [
                {
                    "name": f.name,
                    "params": list(f.params),
                    "results": list(f.results),
                    **({"wit": f.wit} if f.wit is not None else {}),
                }
                for f in artifact.analysis.functions
            ],
            "imports": list(artifact.analysis.imports),
            **({"component": True} if artifact.analysis.component else {}),
            "memory_pages": list(artifact.footprint.memory_pages),
            "table_elements": list(artifact.footprint.table_elements),
            "guarded": artifact.guarded,
            "exports": sorted(artifact.exports),
            "wasm_size": artifact.wasm_size,
        }
    )
    return b"".join((len(header).to_bytes(LENGTH_BYTES, "big"), header, artifact.image))


def decode_artifact(body: bytes | memoryview) -> Artifact:
    """The artifact ``encode_artifact`` wrote; ``ArtifactUnusable("rejected")`` when
    ``body`` is not one."""
    view = memoryview(body)
    length = int.from_bytes(view[:LENGTH_BYTES], "big")
    if len(view) < LENGTH_BYTES + length:
        raise ArtifactUnusable("rejected", "truncated artifact header")
    try:
        header = orjson.loads(view[LENGTH_BYTES : LENGTH_BYTES + length])
        return _artifact_from(header, bytes(view[LENGTH_BYTES + length :]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ArtifactUnusable("rejected", f"malformed artifact header: {exc!r}") from None


def _artifact_from(header: dict[str, Any], image: bytes) -> Artifact:
    functions = tuple(
        FunctionSignature(
            name=str(f["name"]),
            params=tuple(ValueType(p) for p in f["params"]),
            results=tuple(ValueType(r) for r in f["results"]),
            wit=None if f.get("wit") is None else str(f["wit"]),
        )
        for f in header["functions"]
    )
    return Artifact(
        digest=str(header["digest"]),
        flavor=str(header["flavor"]),
        image=image,
        analysis=ModuleAnalysis(
            functions=functions,
            imports=tuple(str(i) for i in header["imports"]),
            component=bool(header.get("component", False)),
        ),
        footprint=Footprint(
            memory_pages=tuple(int(p) for p in header["memory_pages"]),
            table_elements=tuple(int(e) for e in header["table_elements"]),
        ),
        guarded=bool(header["guarded"]),
        exports=frozenset(str(e) for e in header["exports"]),
        wasm_size=int(header["wasm_size"]),
    )
