"""Work that would hold the event loop, moved off it: large JSON parses, validations
and encodes.

orjson reads and writes a few hundred megabytes a second, and building or validating
the documents around it is slower still, so a body or an answer of a few hundred
kilobytes holds the loop for milliseconds while every other request (``/healthz``
included) waits. Past ``OFF_LOOP_BYTES`` the work runs on a worker thread
(``asyncio.to_thread``); below it, inline, where a thread hop would cost more than the
work (run requests and their answers, which users hammer, stay on the loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

OFF_LOOP_BYTES = 64 * 1024
"""Bytes of JSON past which parsing or encoding them leaves the loop: about a tenth of
a millisecond of orjson, a few with validation or document building around it."""


async def off_loop(work: Callable[[], T], *, size: int) -> T:
    """``work()``, on a worker thread when ``size`` (the bytes of JSON it reads or
    writes, or an estimate) is past ``OFF_LOOP_BYTES``, else right here."""
    if size <= OFF_LOOP_BYTES:
        return work()
    return await asyncio.to_thread(work)
