"""The RocksDB store's key layout, and how to scan it.

One column family; every key and value is plain bytes:

    ~format                         b"wess-rocks/1", written when the store is created
    ~sealed                         b"aes-256-gcm/1", written with the first sealed value
    m:<uuid>                        the encoded ``ModuleInfo`` (records.py)
    w:<uuid>                        the wasm bytes, sealed when a keyring is configured
    n:<len16><namespace><uuid>      empty; the per-namespace listing index
    a:<uuid>/<digest>/<flavor>      an AOT artifact of the module's bytes (sealed likewise)
    u:<uuid>                        how often the module was invoked (u64, big-endian)
    k:<key id>                      an API key record (records.py)
    l:<seq>                         an audit entry; seq is a u64, big-endian, so the
                                    log iterates in sequence order
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

FORMAT_KEY = b"~format"
FORMAT = b"wess-rocks/1"
SEALED_KEY = b"~sealed"
META = b"m:"
WASM = b"w:"
INDEX = b"n:"
ARTIFACT = b"a:"
USAGE = b"u:"
API_KEY = b"k:"
AUDIT = b"l:"
SEQ_BYTES = 8
SEPARATOR = b"/"
COUNT_BYTES = 8
MAX_COUNT = (1 << 64) - 1


def module_key(module_id: UUID) -> bytes:
    return str(module_id).encode()


def index_prefix(namespace: str) -> bytes:
    """``n:`` + length-prefixed namespace: no namespace's prefix starts another's."""
    encoded = namespace.encode()
    return INDEX + len(encoded).to_bytes(2, "big") + encoded


def audit_key(seq: int) -> bytes:
    """``l:`` + the sequence number as a fixed-width u64: byte order is number order."""
    if not 0 < seq < 1 << (8 * SEQ_BYTES):
        raise ValueError(f"audit sequence numbers run from 1 to 2**64 - 1, not {seq}")
    return AUDIT + seq.to_bytes(SEQ_BYTES, "big")


def api_key_key(key_id: str) -> bytes:
    return API_KEY + key_id.encode()


def artifact_prefix(key: bytes) -> bytes:
    return ARTIFACT + key + SEPARATOR


def artifact_key(key: bytes, digest: str, flavor: str) -> bytes:
    return artifact_prefix(key) + digest.encode() + SEPARATOR + flavor.encode()


def scan(source: Any, prefix: bytes, start: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Keys and values from ``start`` while they begin with ``prefix``.

    Uses the raw iterator and checks its status: rocksdict's ``items()`` ends silently
    on a checksum error, which would make a listing quietly incomplete.
    """
    iterator = source.iter()
    iterator.seek(start)
    while iterator.valid():
        key: bytes = iterator.key()
        if not key.startswith(prefix):
            return
        yield key, iterator.value()
        iterator.next()
    iterator.status()


def scan_keys(source: Any, prefix: bytes) -> Iterator[bytes]:
    """The keys that begin with ``prefix``, without reading their values."""
    iterator = source.iter()
    iterator.seek(prefix)
    while iterator.valid():
        key: bytes = iterator.key()
        if not key.startswith(prefix):
            return
        yield key
        iterator.next()
    iterator.status()
