"""Rendering domain values as /v1 JSON documents, and the ETag of a module.

A module has two documents: its summary (what a listing shows: no catalogue, so a
listing's size does not grow with what modules export) and its resource (the summary
and the whole function catalogue). Large documents are built and encoded off the event
loop (``offloop``); a listing page is encoded item by item and bounded by bytes as well
as by count (``PageBody``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any
from uuid import UUID

import orjson
from starlette.responses import Response

from wess.api.commands import command_document
from wess.api.offloop import off_loop
from wess.circuit import CircuitSnapshot, CircuitState
from wess.models import Alias, FunctionSignature, ModuleInfo, RevisionRef
from wess.workers.outcome import RunOutcome
from wess.workers.reader import encode_cursor

JSON = "application/json"
RESOURCE_BYTES = 512
"""A module resource without its catalogue, in bytes of JSON, at most (name included)."""
FUNCTION_BYTES = 64
"""A catalogue entry besides its name, in bytes of JSON: its types, at most a few."""
CURSOR = encode_cursor(UUID(int=0))
"""A cursor as long as any: what a page's envelope may hold."""


def json_response(
    document: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(document), status_code=status, media_type=JSON, headers=headers)


async def json_answer(
    build: Callable[[], Any],
    *,
    size: int,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """The document ``build`` makes, as JSON; built and encoded off the event loop when
    ``size``, the bytes it will take (an estimate), is large."""
    body = await off_loop(lambda: orjson.dumps(build()), size=size)
    return Response(body, status_code=status, media_type=JSON, headers=headers)


async def module_response(
    info: ModuleInfo,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    breaker: CircuitSnapshot | None = None,
) -> Response:
    """The module's resource, its catalogue included (and its ``breaker`` unless closed)."""
    return await json_answer(
        partial(module_document, info, breaker=breaker),
        size=resource_size(info),
        status=status,
        headers=headers,
    )


def resource_size(info: ModuleInfo) -> int:
    """About the bytes of the module's resource: its catalogue makes the most of them."""
    return RESOURCE_BYTES + sum(len(f.name) + FUNCTION_BYTES for f in info.functions)


def etag(digest: str) -> str:
    """A strong ETag: the content digest, quoted."""
    return f'"{digest}"'


def parse_etag(header: str | None) -> str | None:
    """The digest an ``If-Match`` names (``*`` kept as is); None when absent."""
    if header is None:
        return None
    value = header.split(",", 1)[0].strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"') or None


def module_summary(info: ModuleInfo) -> dict[str, Any]:
    """What a listing shows of a module: everything but its catalogue, which it counts."""
    return {
        "id": str(info.id),
        "name": info.name,
        "namespace": info.namespace,
        "digest": info.digest,
        "size": info.size,
        "revision": info.revision,
        "created_at": info.created_at.isoformat(),
        "updated_at": info.updated_at.isoformat(),
        "default_function": info.default_function,
        "function_count": len(info.functions),
    }


def _function_document(signature: FunctionSignature) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": signature.name,
        "params": list(signature.params),
        "results": list(signature.results),
    }
    if signature.wit is not None:
        document["wit"] = signature.wit
    return document


def alias_document(alias: Alias) -> dict[str, Any]:
    """``{"revision": 3}``, or ``{"weights": {"3": 90, "4": 10}}`` for a split."""
    if len(alias.targets) == 1:
        return {"revision": alias.targets[0].revision}
    return {"weights": {str(t.revision): t.weight for t in alias.targets}}


def revision_document(ref: RevisionRef, info: ModuleInfo) -> dict[str, Any]:
    """One retained revision as ``GET /v1/modules/{id}/revisions`` lists it."""
    return {
        "revision": ref.number,
        "digest": ref.digest,
        "size": ref.size,
        "created_at": ref.created_at.isoformat(),
        "current": ref.number == info.revision,
        "aliases": sorted(a.name for a in info.aliases if ref.number in a.revisions),
    }


def module_document(info: ModuleInfo, *, breaker: CircuitSnapshot | None = None) -> dict[str, Any]:
    """The module's resource: its summary and its function catalogue, and its circuit
    breaker while it is open or half open."""
    document = module_summary(info)
    document["functions"] = [_function_document(f) for f in info.functions]
    document["aliases"] = {alias.name: alias_document(alias) for alias in info.aliases}
    if breaker is not None and breaker.state is not CircuitState.CLOSED:
        document["breaker"] = breaker.to_dict()
    return document


class PageBody:
    """A listing page's JSON, encoded an item at a time, of at most ``limit`` items and
    ``max_bytes`` bytes: an item that would take the body past ``max_bytes`` ends the
    page instead. The first item always goes in, so a page is never empty and no item
    is ever cut, even one larger than ``max_bytes`` on its own."""

    def __init__(self, *, limit: int, max_bytes: int) -> None:
        self.limit = limit
        self._max_bytes = max_bytes
        self._items: list[bytes] = []
        self._size = len(self.body(CURSOR))

    @property
    def count(self) -> int:
        return len(self._items)

    def add(self, item: bytes) -> bool:
        """Append ``item`` (one encoded summary) if it fits; False when it does not."""
        size = self._size + len(item) + (1 if self._items else 0)
        if self._items and size > self._max_bytes:
            return False
        self._items.append(item)
        self._size = size
        return True

    def body(self, next_cursor: str | None) -> bytes:
        return b"".join(
            (
                b'{"items":[',
                b",".join(self._items),
                b'],"next_cursor":',
                orjson.dumps(next_cursor),
                b"}",
            )
        )


def summary_json(info: ModuleInfo) -> bytes:
    return orjson.dumps(module_summary(info))


def run_document(outcome: RunOutcome, *, logs: bool = False) -> dict[str, Any]:
    """A run's answer: a function call's results, or a command's output (``exit_code``
    set, ``commands.command_document``); its log lines when ``logs`` asks."""
    lines = logs_document(outcome) if logs else None
    if outcome.exit_code is not None:
        return command_document(
            outcome.output(),
            function=outcome.function,
            duration_us=outcome.duration_us,
            fuel_used=outcome.fuel_used,
            logs=lines,
            logs_dropped=outcome.logs_dropped,
        )
    document: dict[str, Any] = {
        "results": outcome.results,
        "function": outcome.function,
        "duration_us": outcome.duration_us,
    }
    if outcome.revision is not None:
        document["revision"] = outcome.revision
    if outcome.fuel_used is not None:
        document["fuel_used"] = outcome.fuel_used
    if outcome.stdout:
        document["stdout"] = outcome.stdout.decode("utf-8", errors="replace")
    if outcome.stderr:
        document["stderr"] = outcome.stderr.decode("utf-8", errors="replace")
    if outcome.output_truncated:
        document["output_truncated"] = True
    if lines is not None:
        document["logs"] = lines
        if outcome.logs_dropped:
            document["logs_dropped"] = outcome.logs_dropped
    return document


def logs_document(outcome: RunOutcome) -> list[dict[str, str]]:
    return [line.document() for line in outcome.logs]
