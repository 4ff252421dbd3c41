"""Long lists as NDJSON: every page, one item a line, streamed as the store yields them.

A listing that keyset pagination serves page by page (modules, the audit log) is
streamed whole instead when the client sends ``Accept: application/x-ndjson``: the
handler reads the store a chunk at a time and sends each chunk's lines before reading
the next, so neither the server nor the answer holds the whole list at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import StreamingResponse

NDJSON = "application/x-ndjson"


def wants_ndjson(request: Request) -> bool:
    """Whether the client asked for NDJSON (and not JSON first)."""
    accept = request.headers.get("accept", "")
    kinds = [part.split(";", 1)[0].strip().lower() for part in accept.split(",")]
    return NDJSON in kinds and (
        "application/json" not in kinds or kinds.index(NDJSON) < kinds.index("application/json")
    )


def ndjson_response(lines: AsyncIterator[bytes]) -> StreamingResponse:
    """``lines`` (each ending in a newline, or several together) as a streamed answer."""
    return StreamingResponse(lines, media_type=NDJSON, headers={"Cache-Control": "no-store"})
