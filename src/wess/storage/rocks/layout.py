"""The RocksDB store's layout: one column family per kind of data, and how to scan one.

Format ``wess-rocks/2``; every key and value is plain bytes:

    system      format        b"wess-rocks/2"
                sealed        b"aes-256-gcm/1", written with the first sealed value
                migration     the progress of a migration under way (``migrations``)
    modules     m:<uuid>      the encoded ``ModuleInfo`` (records.py)
                w:<uuid>      the wasm bytes, sealed when a keyring is configured
                n:<len16><namespace><uuid>    empty; the per-namespace listing index
    artifacts   <uuid>/<digest>/<flavor>      an AOT artifact (sealed likewise)
    usage       <uuid>        how often the module was invoked (u64, big-endian)
    keys        <key id>      an API key record (records.py)
    audit       <seq>         an audit entry; seq is a u64, big-endian, so the log
                              iterates in sequence order

Kinds live apart so that a damaged block costs the records of its own kind only: the
few records the store itself needs (``system``) sit in files of their own, and the
format is also kept in ``FORMAT_FILE`` beside the database, read when ``system``
cannot be. A metadata scan never reads wasm, and a module's metadata and bytes share a
family, so one multi-get reads both at one sequence number.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

SYSTEM = "system"
MODULES = "modules"
ARTIFACTS = "artifacts"
USAGE = "usage"
KEYS = "keys"
AUDIT = "audit"
FAMILIES = (SYSTEM, MODULES, ARTIFACTS, USAGE, KEYS, AUDIT)

FORMAT = b"wess-rocks/2"
FORMAT_KEY = b"format"
SEALED_KEY = b"sealed"
MIGRATION_KEY = b"migration"
FORMAT_FILE = "WESS_FORMAT"
"""The second copy of the format, a file beside RocksDB's own (``wess.files``)."""

META = b"m:"
WASM = b"w:"
INDEX = b"n:"
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
    """The sequence number as a fixed-width u64: byte order is number order."""
    if not 0 < seq < 1 << (8 * SEQ_BYTES):
        raise ValueError(f"audit sequence numbers run from 1 to 2**64 - 1, not {seq}")
    return seq.to_bytes(SEQ_BYTES, "big")


def api_key_key(key_id: str) -> bytes:
    return key_id.encode()


def artifact_prefix(key: bytes) -> bytes:
    return key + SEPARATOR


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
