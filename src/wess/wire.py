"""Events as bytes, to cross a process boundary: ``ModuleChanged`` and ``ApiKeyChanged``
encoded as compact JSON, decoded back, and refused when their version is unknown.

Pure, and imports only the core types: the PostgreSQL change feed carries these
between nodes (``pg_notify`` payloads stay far below PostgreSQL's 8000-byte bound).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson

from wess.errors import InvalidRequest
from wess.messages import MESSAGE_VERSION, ApiKeyChanged, ChangeKind, ModuleChanged
from wess.models import ApiKey

Event = ModuleChanged | ApiKeyChanged


def encode_event(event: Event) -> bytes:
    """The bytes of ``event``: its kind, version and fields."""
    if isinstance(event, ModuleChanged):
        return orjson.dumps(
            {
                "kind": "module_changed",
                "version": event.version,
                "change": event.change.value,
                "module_id": str(event.module_id),
                "namespace": event.namespace,
                "revision": event.revision,
                "digest": event.digest,
                "previous_digest": event.previous_digest,
            }
        )
    return orjson.dumps(
        {
            "kind": "api_key_changed",
            "version": event.version,
            "key_id": event.key_id,
            "key": None if event.key is None else event.key.to_dict(),
        }
    )


def decode_event(data: bytes | str) -> Event:
    """The event ``data`` holds; ``InvalidRequest`` for one of an unknown kind or version
    (a newer node's), which a consumer must not guess at."""
    try:
        document: Any = orjson.loads(data)
        kind, version = document["kind"], document["version"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise InvalidRequest(f"not a Wess event: {exc}") from exc
    if version != MESSAGE_VERSION:
        raise InvalidRequest(f"event of version {version!r}; this Wess reads {MESSAGE_VERSION}")
    try:
        if kind == "module_changed":
            return ModuleChanged(
                change=ChangeKind(document["change"]),
                module_id=UUID(document["module_id"]),
                namespace=str(document["namespace"]),
                revision=int(document["revision"]),
                digest=document["digest"],
                previous_digest=document["previous_digest"],
            )
        if kind == "api_key_changed":
            key = document["key"]
            return ApiKeyChanged(
                key_id=str(document["key_id"]),
                key=None if key is None else ApiKey.from_dict(key),
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidRequest(f"malformed {kind} event: {exc!r}") from exc
    raise InvalidRequest(f"an event of unknown kind {kind!r}")
