"""The stored form of ``ModuleInfo``, API keys and audit entries: pure encode/decode.

A record is an orjson object carrying ``schema_version``. Decoding refuses a version
it does not know (newer or unknown) with ``IntegrityError`` instead of guessing, so a
downgraded Wess never misreads what a newer one wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson

from wess.errors import IntegrityError
from wess.models import (
    SCHEMA_VERSION,
    Alias,
    AliasTarget,
    ApiKey,
    AuditEntry,
    FunctionSignature,
    LegacyMetadata,
    ModuleInfo,
    RevisionRef,
    ValueType,
    digest_of,
)


def encode_info(info: ModuleInfo) -> bytes:
    """The record bytes of ``info`` at the current ``SCHEMA_VERSION``.

    orjson writes the ids, the signatures (dataclasses), the value types (enums) and
    UTC times natively, in the same form the fields had when they were written out
    by hand (``tests/storage/test_records.py`` pins it), at a third of the cost: this
    runs once per module write. Raises ``ValueError`` for a naive datetime: its
    instant is unknown.
    """
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "id": info.id,
        "namespace": info.namespace,
        "name": info.name,
        "digest": info.digest,
        "size": info.size,
        "revision": info.revision,
        "created_at": _utc(info.created_at),
        "updated_at": _utc(info.updated_at),
        "functions": [_function(f) for f in info.functions],
        "default_function": info.default_function,
        "legacy_metadata": info.legacy_metadata,
    }
    # Written only when kept, so a record without them reads as before (``retained``).
    if info.revisions:
        document["revisions"] = [
            {
                "number": ref.number,
                "digest": ref.digest,
                "size": ref.size,
                "created_at": _utc(ref.created_at),
            }
            for ref in info.revisions
        ]
    if info.aliases:
        document["aliases"] = {
            alias.name: [[target.revision, target.weight] for target in alias.targets]
            for alias in info.aliases
        }
    return orjson.dumps(document)


def _function(signature: FunctionSignature) -> dict[str, Any]:
    """A signature's stored form: ``wit`` only for a component's function, so a core
    module's record keeps the form it always had."""
    document: dict[str, Any] = {
        "name": signature.name,
        "params": signature.params,
        "results": signature.results,
    }
    if signature.wit is not None:
        document["wit"] = signature.wit
    return document


def decode_info(data: bytes) -> ModuleInfo:
    """The ``ModuleInfo`` stored in ``data``; ``IntegrityError`` if it is not one we can read."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise IntegrityError(f"stored module record is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise IntegrityError("stored module record is not a JSON object")
    module_id = document.get("id")
    version = document.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise IntegrityError(
            f"stored record of module {module_id} has schema_version {version!r}; this Wess "
            f"reads only schema_version {SCHEMA_VERSION}. Run the Wess version that wrote it "
            "or migrate the store; refusing to guess its layout.",
            module_id=module_id,
        )
    try:
        return _info_from(document)
    except (KeyError, TypeError, ValueError) as exc:
        raise IntegrityError(
            f"stored record of module {module_id} is malformed: {exc!r}", module_id=module_id
        ) from exc


def verified_wasm(info: ModuleInfo, wasm: bytes) -> bytes:
    """``wasm`` if its sha256 matches ``info.digest``, else ``IntegrityError``.

    Every backend calls this on every read of bytes, so the message is the same
    wherever bytes rot.
    """
    actual = digest_of(wasm)
    if actual != info.digest:
        raise IntegrityError(
            f"stored bytes of module {info.id} do not match their digest: "
            f"expected {info.digest}, actual {actual}",
            module_id=str(info.id),
            expected=info.digest,
            actual=actual,
        )
    return wasm


def encode_api_key(key: ApiKey) -> bytes:
    """The record bytes of an API key (its secret's HMAC, never a token)."""
    return orjson.dumps({"schema_version": SCHEMA_VERSION, **key.to_dict()})


def decode_api_key(data: bytes) -> ApiKey:
    """The ``ApiKey`` stored in ``data``; ``IntegrityError`` if it is not one we can read."""
    document = _document(data, "API key")
    try:
        return ApiKey.from_dict(document)
    except (KeyError, TypeError, ValueError) as exc:
        raise IntegrityError(
            f"stored API key {document.get('id')} is malformed: {exc!r}", key_id=document.get("id")
        ) from exc


def encode_audit(entry: AuditEntry) -> bytes:
    """The record bytes of an audit entry: its fields as they were hashed."""
    return orjson.dumps({"schema_version": SCHEMA_VERSION, **entry.to_dict()})


def decode_audit(data: bytes) -> AuditEntry:
    """The ``AuditEntry`` stored in ``data``; ``IntegrityError`` if it is not one we can read.

    Whether it is the entry that was written is for ``security.audit.verify`` to say.
    """
    document = _document(data, "audit entry")
    document.pop("schema_version")
    try:
        return AuditEntry.from_dict(document)
    except (KeyError, TypeError, ValueError) as exc:
        raise IntegrityError(
            f"stored audit entry {document.get('seq')} is malformed: {exc!r}"
        ) from exc


def _document(data: bytes, what: str) -> dict[str, Any]:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise IntegrityError(f"stored {what} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise IntegrityError(f"stored {what} is not a JSON object")
    version = document.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise IntegrityError(
            f"stored {what} has schema_version {version!r}; this Wess reads only "
            f"schema_version {SCHEMA_VERSION}"
        )
    return document


def _info_from(document: Mapping[str, Any]) -> ModuleInfo:
    legacy = document["legacy_metadata"]
    default_function = document["default_function"]
    return ModuleInfo(
        id=UUID(_str(document["id"])),
        namespace=_str(document["namespace"]),
        name=_str(document["name"]),
        digest=_str(document["digest"]),
        size=_int(document["size"]),
        revision=_int(document["revision"]),
        created_at=_decode_time(document["created_at"]),
        updated_at=_decode_time(document["updated_at"]),
        functions=tuple(
            FunctionSignature(
                name=_str(f["name"]),
                params=tuple(ValueType(_str(p)) for p in f["params"]),
                results=tuple(ValueType(_str(r)) for r in f["results"]),
                wit=None if f.get("wit") is None else _str(f["wit"]),
            )
            for f in document["functions"]
        ),
        default_function=None if default_function is None else _str(default_function),
        legacy_metadata=None
        if legacy is None
        else LegacyMetadata(
            function_name=_str(legacy["function_name"]),
            args=tuple(_str(a) for a in legacy["args"]),
            return_type=tuple(_str(r) for r in legacy["return_type"]),
        ),
        schema_version=SCHEMA_VERSION,
        revisions=tuple(
            RevisionRef(
                number=_int(ref["number"]),
                digest=_str(ref["digest"]),
                size=_int(ref["size"]),
                created_at=_decode_time(ref["created_at"]),
            )
            for ref in document.get("revisions", ())
        ),
        aliases=tuple(
            Alias(
                name=_str(name),
                targets=tuple(
                    AliasTarget(revision=_int(revision), weight=_int(weight))
                    for revision, weight in targets
                ),
            )
            for name, targets in document.get("aliases", {}).items()
        ),
    )


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC (as is when it is already), so it is written ``+00:00``."""
    if moment.tzinfo is UTC:
        return moment
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()} cannot be stored: give it a zone")
    return moment.astimezone(UTC)


def _decode_time(value: Any) -> datetime:
    moment = datetime.fromisoformat(_str(value))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no UTC offset")
    return moment.astimezone(UTC)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {value!r}")
    return value
