"""Builders of stored modules for the storage and worker tests."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

from tests.fixtures import wasm as fixture_wasm
from wess.messages import ModuleContent
from wess.models import (
    DEFAULT_NAMESPACE,
    ApiKey,
    AuditEntry,
    AuditFields,
    FunctionSignature,
    LegacyMetadata,
    ModuleInfo,
    ModuleRecord,
    Role,
    SealedArtifact,
    ValueType,
    digest_of,
)
from wess.security.audit import AuditKey, chain
from wess.security.crypto import Kek

T0 = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
AUDIT_KEY = AuditKey(bytes(range(32)))
"""The key the tests' audit chains are MACed with (the server derives its own)."""
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


def make_content(wasm: bytes | None = None, *, name: str | None = None) -> ModuleContent:
    """A validated upload as the API would hand it to the Writer; named ``sum-<random>``
    unless told (names are unique in a namespace)."""
    body = fixture_wasm("sum") if wasm is None else wasm
    return ModuleContent(
        name=name if name is not None else f"sum-{uuid4().hex[:12]}",
        wasm=body,
        digest=digest_of(body),
        functions=(SUM,),
        default_function="sum",
    )


def make_key(key_id: str = "0123456789abcdef", *, namespace: str = DEFAULT_NAMESPACE) -> ApiKey:
    """An API key record (the hash of some secret; no token exists for it)."""
    return ApiKey(
        id=key_id,
        namespace=namespace,
        role=Role.DEVELOPER,
        name=f"key {key_id}",
        created_at=T0,
        expires_at=T0 + timedelta(days=30),
        hash=hashlib.sha256(key_id.encode()).hexdigest(),
    )


def make_entries(count: int, *, after: AuditEntry | None = None) -> list[AuditEntry]:
    """``count`` chained audit entries following ``after`` (None: from the first)."""
    entries: list[AuditEntry] = []
    previous = after
    for _ in range(count):
        seq = 1 if previous is None else previous.seq + 1
        fields = AuditFields(
            time="2025-01-02T03:04:05.678901Z",
            actor="api_key:0123456789abcdef",
            namespace=DEFAULT_NAMESPACE,
            action="module.create",
            target=f"target-{seq}",
            outcome="ok",
            request_id=f"req-{seq}",
            client_ip="192.0.2.1",
        )
        previous = chain(previous, fields, key=AUDIT_KEY)
        entries.append(previous)
    return entries


FLAVOR = "wasmtime-1+abc"
OLD = Kek(bytes(range(32)))
NEW = Kek(bytes(range(1, 33)))


def artifact_of(record: ModuleRecord, flavor: str = FLAVOR, data: bytes = b"aot") -> SealedArtifact:
    """An artifact of ``record``'s bytes (storage never looks inside)."""
    return SealedArtifact(digest=record.digest, flavor=flavor, data=data)


def ids(infos: list[ModuleInfo]) -> list[UUID]:
    return [info.id for info in infos]


def fixture_record(name: str, *, wasm_bytes: bytes | None = None) -> ModuleRecord:
    """A record of the fixture module ``name`` (or ``wasm_bytes``) as the Runner gets it:
    real wasm, no declared functions."""
    binary = wasm_bytes if wasm_bytes is not None else fixture_wasm(name)
    info = ModuleInfo(
        id=uuid4(),
        namespace=DEFAULT_NAMESPACE,
        name=name,
        digest=digest_of(binary),
        size=len(binary),
        revision=1,
        created_at=T0,
        updated_at=T0,
        functions=(),
    )
    return ModuleRecord(info=info, wasm=binary)


def format1_store(
    path: Path,
    *,
    records: list[ModuleRecord] = (),  # type: ignore[assignment]
    artifacts: list[tuple[UUID, SealedArtifact]] = (),  # type: ignore[assignment]
    usage: list[tuple[UUID, int]] = (),  # type: ignore[assignment]
    keys: list[ApiKey] = (),  # type: ignore[assignment]
    entries: list[AuditEntry] = (),  # type: ignore[assignment]
    extra: dict[bytes, bytes] | None = None,
) -> None:
    """A store as Wess wrote it in format ``wess-rocks/1``: one column family, a prefix
    per kind (``~format``, ``m:``, ``w:``, ``n:``, ``a:``, ``u:``, ``k:``, ``l:``), plain
    values. Built here, byte for byte, so the migration is tested against that layout."""
    from rocksdict import Options, Rdict, WriteOptions

    from wess.storage.records import encode_api_key, encode_audit, encode_info

    options = Options(raw_mode=True)
    options.create_if_missing(True)
    db = Rdict(str(path), options)
    sync = WriteOptions()
    sync.sync = True
    try:
        rows: dict[bytes, bytes] = {b"~format": b"wess-rocks/1", **(extra or {})}
        for record in records:
            key = str(record.id).encode()
            namespace = record.info.namespace.encode()
            rows[b"m:" + key] = encode_info(record.info)
            rows[b"w:" + key] = record.wasm
            rows[b"n:" + len(namespace).to_bytes(2, "big") + namespace + key] = b""
        for module_id, artifact in artifacts:
            name = f"{module_id}/{artifact.digest}/{artifact.flavor}".encode()
            rows[b"a:" + name] = artifact.data
        for module_id, count in usage:
            rows[b"u:" + str(module_id).encode()] = count.to_bytes(8, "big")
        for key_record in keys:
            rows[b"k:" + key_record.id.encode()] = encode_api_key(key_record)
        for entry in entries:
            rows[b"l:" + entry.seq.to_bytes(8, "big")] = encode_audit(entry)
        for key, value in rows.items():
            db.put(key, value, sync)
    finally:
        db.close()


def unkeyed(entries: list[AuditEntry]) -> list[AuditEntry]:
    """The same entries as a Wess before the keyed chain wrote them: plain SHA-256 over
    the fields it knew, ``chain`` and ``count`` absent (stored as their defaults)."""
    import dataclasses

    from wess.models import UNKEYED_CHAIN
    from wess.security.audit import GENESIS, legacy_hash

    plain: list[AuditEntry] = []
    for entry in entries:
        draft = dataclasses.replace(
            entry, prev_hash=plain[-1].hash if plain else GENESIS, chain=UNKEYED_CHAIN
        )
        plain.append(dataclasses.replace(draft, hash=legacy_hash(draft)))
    return plain
