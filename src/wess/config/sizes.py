"""Cache sizes in the configuration: a byte budget with a unit, or a count of entries.

The original Wess counted its caches in modules (``cache_size = 1024``); Wess counts
bytes. So that neither reading is ever guessed, the unit decides: ``"64MiB"`` or
``"512KB"`` is a byte budget, a plain whole number (``1024``, or ``"1024"`` from the
environment) is a number of entries, as in the original. A plain number too large to
be a sensible count is refused with a hint, since it was most likely meant as bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

MAX_ENTRIES = 1_000_000
"""The largest entry count: a plain number above it was most likely meant as bytes."""

UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
    "tib": 1 << 40,
}
"""Byte units, case-insensitive: KB = 1000 bytes, KiB = 1024 bytes (IEC)."""

EXAMPLES = '"64MiB", "512KB", "1GiB"'

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)", re.IGNORECASE)
_SHOWN = ("TiB", "GiB", "MiB", "KiB", "TB", "GB", "MB", "KB")


@dataclass(frozen=True, slots=True)
class CacheSize:
    """How much a cache holds: ``max_bytes`` or ``max_entries``, exactly one of them."""

    max_bytes: int | None = None
    max_entries: int | None = None

    def __post_init__(self) -> None:
        if (self.max_bytes is None) == (self.max_entries is None):
            raise ValueError("a cache size is either bytes or entries")

    def __str__(self) -> str:
        if self.max_bytes is None:
            return str(self.max_entries)
        for unit in _SHOWN:
            scale = UNITS[unit.lower()]
            if self.max_bytes and self.max_bytes % scale == 0:
                return f"{self.max_bytes // scale}{unit}"
        return f"{self.max_bytes}B"


def parse_cache_size(value: object) -> CacheSize:
    """``"64MiB"`` -> 64 MiB of bytes; ``1024`` or ``"1024"`` -> 1024 entries.

    ValueError (a sentence saying what is accepted) for anything else.
    """
    if isinstance(value, CacheSize):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return _entries(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return _entries(int(text))
        match = _SIZE.fullmatch(text)
        if match and match.group(2).lower() in UNITS:
            return CacheSize(max_bytes=int(float(match.group(1)) * UNITS[match.group(2).lower()]))
    raise ValueError(
        f"a cache size is a byte size with a unit ({EXAMPLES}) or a whole number of "
        f"entries, got {value!r}"
    )


def _entries(count: int) -> CacheSize:
    if not 0 <= count <= MAX_ENTRIES:
        raise ValueError(
            f"a plain number counts entries (modules), from 0 to {MAX_ENTRIES}; for a byte "
            f'budget write the unit, e.g. "{CacheSize(max_bytes=max(count, 0))}"'
        )
    return CacheSize(max_entries=count)


def _shown(size: CacheSize) -> Any:
    """How ``wess config show`` prints a size: entries as a number, bytes with a unit."""
    return size.max_entries if size.max_bytes is None else str(size)


CacheSizeField = Annotated[
    CacheSize, BeforeValidator(parse_cache_size), PlainSerializer(_shown, return_type=Any)
]
"""A settings field holding a ``CacheSize``, read by ``parse_cache_size``."""
