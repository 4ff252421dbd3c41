"""Bounded texts for problem details: wasmtime's errors summarised, long texts shortened,
lists of offenders named in part.

wasmtime words its errors for a terminal: a header, a wasm backtrace, a numbered chain
of causes, and Rust's pretty-printed values spread over several lines
(``expected=[\\n    0x0,\\n ...]``). Taking the first line cuts such a message in the
middle of a list. ``reason_of`` keeps the causes (most specific last), folds each onto
one line, and, past ``REASON_LIMIT`` characters, elides long printed values first,
then drops the most general causes, and only then cuts, between words and outside any
bracket or quote, marking the cut with ``[…]``. The result ends with a full stop or a
closing bracket or quote, and its brackets and quotes are balanced.

A detail built from what a client sent must not grow with it: ``listed`` names the
first few offenders and counts the rest (``a, b, c and 699,997 more``), ``clipped``
bounds one of them, and ``shortened`` bounds any text the same way ``reason_of`` cuts
one, between words and outside brackets and quotes. Pure.
"""

from __future__ import annotations

import heapq
import itertools
import re
from collections.abc import Collection, Iterable

REASON_LIMIT = 240
"""The longest summary, in characters: a detail stays readable in a log line."""
NO_REASON = "no reason given."
ELIDED = "[…]"
CAUSED_BY = "Caused by:"
BACKTRACE = "wasm backtrace:"
TRAP_PREFIX = "wasm trap: "
ENDINGS = frozenset(".!?)]}\"'`")
OPENERS = {"(": ")", "[": "]", "{": "}"}
NUMBERED_CAUSE = re.compile(r"^\s*\d+:\s+", re.M)
WHITESPACE = re.compile(r"\s+")
AFTER_OPENER = re.compile(r"([\[(]) ")
BEFORE_CLOSER = re.compile(r",? ([\])])")
LONG_VALUE = re.compile(r"\[[^\[\]]{24,}\]|\{[^{}]{24,}\}|`[^`]{40,}`")
"""A printed list or struct, or a quoted type, long enough to be worth eliding."""
LISTED = 5
"""The offenders a detail names before counting the rest."""
ITEM_LIMIT = 64
"""The longest offender a detail shows, in characters."""
CLIPPED = "…"


def listed(items: Iterable[str], *, most: int = LISTED) -> str:
    """The first ``most`` of ``items``, each ``clipped``, and how many more:
    ``a, b, c and 699,997 more``; reads ``items`` once, keeping only those it names."""
    iterator = iter(items)
    shown = [clipped(item) for item in itertools.islice(iterator, most)]
    return _named(shown, sum(1 for _ in iterator))


def listed_sorted(items: Collection[str], *, most: int = LISTED) -> str:
    """``listed`` of the ``most`` first of ``items`` in sorted order, without sorting
    them all (a set of 700,000 unknown keys costs one pass)."""
    shown = [clipped(item) for item in heapq.nsmallest(most, items)]
    return _named(shown, len(items) - len(shown))


def clipped(text: str, *, limit: int = ITEM_LIMIT) -> str:
    """``text`` if it is at most ``limit`` characters, else its beginning and ``…``."""
    return text if len(text) <= limit else text[: limit - len(CLIPPED)] + CLIPPED


def shortened(text: str, *, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters; else cut between words, outside
    every bracket and quote, and marked ``[…]``, so no half word or open quote is left."""
    if len(text) <= limit:
        return text
    head = _cut(text, limit - len(ELIDED) - 1)
    return f"{head} {ELIDED}" if head else ELIDED


def _named(shown: list[str], more: int) -> str:
    if not shown:
        return "none"
    if more:
        return f"{', '.join(shown)} and {more:,} more"
    if len(shown) == 1:
        return shown[0]
    return f"{', '.join(shown[:-1])} and {shown[-1]}"


def reason_of(message: str, *, limit: int = REASON_LIMIT) -> str:
    """wasmtime's cause as one sentence of at most ``limit`` characters:
    ``integer divide by zero.``, ``unexpected end-of-file (at offset 0xa)``."""
    causes = _causes(message.replace("\0", ""))
    if not causes:
        return NO_REASON
    text = "; ".join(causes)
    if len(text) + 1 > limit:
        text = _shortened(causes, limit - 1)
    return _ended(text)


def _causes(text: str) -> list[str]:
    """The messages of wasmtime's chain, each on one line, the header first unless it
    only announces a backtrace."""
    head, marker, tail = text.partition(CAUSED_BY)
    causes = [] if BACKTRACE in head else [head]
    if marker:
        causes.extend(NUMBERED_CAUSE.split(tail))
    folded = (_folded(cause) for cause in causes)
    return [cause for cause in folded if cause]


def _folded(cause: str) -> str:
    text = WHITESPACE.sub(" ", cause).strip()
    text = AFTER_OPENER.sub(r"\1", text)
    text = BEFORE_CLOSER.sub(r"\1", text)
    return text.removeprefix(TRAP_PREFIX).rstrip(" ;:,")


def _shortened(causes: list[str], limit: int) -> str:
    """Long values elided; then the most specific causes that fit; then a clean cut."""
    causes = [LONG_VALUE.sub(_elided, cause) for cause in causes]
    kept = [causes[-1]]
    for cause in reversed(causes[:-1]):
        if len("; ".join([cause, *kept])) > limit:
            break
        kept.insert(0, cause)
    text = "; ".join(kept)
    if len(text) > limit:
        head = _cut(text, limit - len(ELIDED) - 1)
        text = f"{head} {ELIDED}" if head else ELIDED
    return text


def _elided(value: re.Match[str]) -> str:
    """``[0x0, 0x61, ...]`` -> ``[…]``, a long quoted type -> ```…```."""
    return value[0][0] + "…" + value[0][-1]


def _cut(text: str, limit: int) -> str:
    """``text`` up to the last space before ``limit`` that is outside every bracket and
    quote (so nothing is left open), without trailing punctuation."""
    closing: list[str] = []
    best = 0
    for index, char in enumerate(text[: limit + 1]):
        if closing and char == closing[-1]:
            closing.pop()
        elif char in OPENERS:
            closing.append(OPENERS[char])
        elif char == "`":
            closing.append("`")
        elif char == " " and not closing:
            best = index
    return text[:best].rstrip(" ;:,-")


def _ended(text: str) -> str:
    return text if text[-1] in ENDINGS else text + "."
