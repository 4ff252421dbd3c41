"""Builders of stored modules for the storage and worker tests."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from uuid import UUID, uuid4

from tests.fixtures import wasm as fixture_wasm
from wess.messages import ModuleContent
from wess.models import (
    DEFAULT_NAMESPACE,
    FunctionSignature,
    LegacyMetadata,
    ModuleInfo,
    ModuleRecord,
    ValueType,
    digest_of,
)

T0 = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
SUM = FunctionSignature("sum", (ValueType.I32, ValueType.I32), (ValueType.I32,))


def unique_wasm(seed: str, size: int = 64) -> bytes:
    """Distinct bytes per seed (storage does not care whether they are valid wasm)."""
    block = hashlib.sha256(seed.encode()).digest()
    return (block * (size // len(block) + 1))[:size]


def make_record(
    module_id: UUID | None = None,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    wasm: bytes | None = None,
    revision: int = 1,
    digest: str | None = None,
    legacy: bool = False,
) -> ModuleRecord:
    """A record with every field filled, its digest matching its bytes unless told."""
    module_id = module_id or uuid4()
    body = fixture_wasm("sum") if wasm is None else wasm
    info = ModuleInfo(
        id=module_id,
        namespace=namespace,
        name=f"module-{module_id.hex[:8]}",
        digest=digest or digest_of(body),
        size=len(body),
        revision=revision,
        created_at=T0,
        updated_at=T0,
        functions=(SUM, FunctionSignature("nothing", (), ())),
        default_function="sum",
        legacy_metadata=LegacyMetadata("sum", ("I32", "I32"), ("I32",)) if legacy else None,
    )
    return ModuleRecord(info=info, wasm=body)


def make_content(wasm: bytes | None = None, *, name: str = "sum") -> ModuleContent:
    """A validated upload as the API would hand it to the Writer."""
    body = fixture_wasm("sum") if wasm is None else wasm
    return ModuleContent(
        name=name, wasm=body, digest=digest_of(body), functions=(SUM,), default_function="sum"
    )
