"""The export format, ``wess-export/1``: NDJSON, one record per line, closed by a manifest.

Every line is one JSON object in UTF-8, ending with ``\\n``; its ``type`` says what it is:

    {"type":"header","format":"wess-export/1","wess":"0.1.0","created_at":"<RFC 3339>",
     "audit_chain":"hmac-sha256:ak-...","filter":{"namespace":null,"since":null}}
    {"type":"module","record":{<module metadata, stored form>},"wasm":"<base64>"}   ...
    {"type":"revision","record":{<a retained older revision>},"wasm":"<base64>"}  ...
    {"type":"key","record":{<API key record: its hash, never a token>}}              ...
    {"type":"audit","record":{<audit entry, as hashed>}}                             ...
    {"type":"manifest","counts":{"modules":n,"keys":n,"audit":n},"wasm_bytes":n,
     "skipped":[...],"sha256":"<hex of every byte before this line>"}

Records come in that order: modules by id (each followed by its retained older
revisions, oldest first), keys by id, audit entries by sequence number. A module's
record carries its aliases and the list of revisions it retains; the manifest counts
``revisions`` only in a dump that holds some (a Wess older than revisions refuses such
a dump, naming the ``revision`` record type; every dump it wrote reads here). A record
is the store's own form of it (``storage.records``, with its ``schema_version``). Each
module's bytes carry their digest in its metadata; the manifest, always the last line,
counts the records and hashes every byte before it, so a dump cut short (no manifest)
or altered anywhere is told apart from a whole one.
``audit_chain`` names the key the exporting server MACs its audit log with (derived
from its secret): an importing server with another one cannot verify those entries,
nor the API keys' hashes. Pure: encoding and decoding only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

import orjson

from wess.errors import InvalidRequest, WessError
from wess.models import ApiKey, AuditEntry, ModuleInfo, ModuleRecord, digest_of
from wess.storage.records import (
    decode_api_key,
    decode_audit,
    decode_info,
    encode_api_key,
    encode_audit,
    encode_info,
)

FORMAT = "wess-export/1"
SLACK = 64 * 1024
"""Bytes a module line takes besides its base64 bytes: its metadata and catalogue."""


def line_limit(max_module_size: int) -> int:
    """The longest line a dump of modules up to ``max_module_size`` bytes holds."""
    return (max_module_size + 2) // 3 * 4 + SLACK


class DumpError(InvalidRequest):
    """A dump that is not a whole, unaltered ``wess-export/1`` document."""


@dataclass(frozen=True, slots=True)
class Header:
    created_at: str
    wess: str
    audit_chain: str
    namespace: str | None = None
    since: str | None = None

    @property
    def audit_excerpt(self) -> bool:
        """Whether the dump's audit entries are a namespace's, not a run of the log."""
        return self.namespace is not None


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record left out of a dump (it could not be read) or out of an import."""

    kind: str
    id: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "id": self.id, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Manifest:
    counts: dict[str, int]
    wasm_bytes: int
    sha256: str
    skipped: tuple[Skipped, ...] = ()


@dataclass(frozen=True, slots=True)
class Revision:
    """A retained older revision of the module on the line before it."""

    record: ModuleRecord


Record = Header | ModuleRecord | Revision | ApiKey | AuditEntry | Manifest
Kind = Literal["module", "key", "audit"]


def header_line(header: Header) -> bytes:
    document = {
        "type": "header",
        "format": FORMAT,
        "wess": header.wess,
        "created_at": header.created_at,
        "audit_chain": header.audit_chain,
        "filter": {"namespace": header.namespace, "since": header.since},
    }
    return orjson.dumps(document) + b"\n"


def module_line(record: ModuleRecord) -> bytes:
    return b"".join(
        (
            b'{"type":"module","record":',
            encode_info(record.info),
            b',"wasm":"',
            base64.b64encode(record.wasm),
            b'"}\n',
        )
    )


def revision_line(record: ModuleRecord) -> bytes:
    return b"".join(
        (
            b'{"type":"revision","record":',
            encode_info(record.info),
            b',"wasm":"',
            base64.b64encode(record.wasm),
            b'"}\n',
        )
    )


def key_line(key: ApiKey) -> bytes:
    return b'{"type":"key","record":' + encode_api_key(key) + b"}\n"


def audit_line(entry: AuditEntry) -> bytes:
    return b'{"type":"audit","record":' + encode_audit(entry) + b"}\n"


def manifest_line(manifest: Manifest) -> bytes:
    document = {
        "type": "manifest",
        "counts": manifest.counts,
        "wasm_bytes": manifest.wasm_bytes,
        "skipped": [item.to_dict() for item in manifest.skipped],
        "sha256": manifest.sha256,
    }
    return orjson.dumps(document) + b"\n"


def decode_line(line: bytes, number: int) -> Record:
    """The record on line ``number`` (1-based); ``DumpError`` naming the line otherwise.

    A module's bytes are checked against the digest and size its metadata names.
    """
    try:
        document = orjson.loads(line)
        if not isinstance(document, dict):
            raise TypeError("not a JSON object")
        return _decode(document)
    except DumpError as exc:
        raise DumpError(f"line {number}: {exc.detail}", line=number) from None
    except (WessError, ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise DumpError(f"line {number} is not a {FORMAT} record: {exc}", line=number) from None


def _decode(document: dict[str, Any]) -> Record:
    kind = document["type"]
    if kind in ("module", "revision"):
        info = decode_info(orjson.dumps(document["record"]))
        wasm = base64.b64decode(document["wasm"], validate=True)
        if len(wasm) != info.size or digest_of(wasm) != info.digest:
            raise DumpError(
                f"module {info.id}: its bytes do not match its digest {info.digest}"
                f" (got {digest_of(wasm)}, {len(wasm)} bytes)"
            )
        record = ModuleRecord(info=info, wasm=wasm)
        return record if kind == "module" else Revision(record)
    if kind == "key":
        return decode_api_key(orjson.dumps(document["record"]))
    if kind == "audit":
        return decode_audit(orjson.dumps(document["record"]))
    if kind == "header":
        if document["format"] != FORMAT:
            found = document["format"]
            raise DumpError(f"the dump is in format {found!r}; this Wess reads {FORMAT}")
        chosen = document["filter"]
        return Header(
            created_at=str(document["created_at"]),
            wess=str(document["wess"]),
            audit_chain=str(document["audit_chain"]),
            namespace=chosen.get("namespace"),
            since=chosen.get("since"),
        )
    if kind == "manifest":
        return Manifest(
            counts={str(k): int(v) for k, v in document["counts"].items()},
            wasm_bytes=int(document["wasm_bytes"]),
            sha256=str(document["sha256"]),
            skipped=tuple(
                Skipped(str(s["kind"]), str(s["id"]), str(s["reason"])) for s in document["skipped"]
            ),
        )
    raise DumpError(f"unknown record type {kind!r}")


@dataclass
class DumpReader:
    """Checks a dump line by line as it is read: the header first, records in order,
    the manifest last and matching. ``feed`` each line; ``finish`` at the end."""

    header: Header | None = None
    manifest: Manifest | None = None
    counts: dict[str, int] = field(default_factory=lambda: {"modules": 0, "keys": 0, "audit": 0})
    wasm_bytes: int = 0
    lines: int = 0
    _hash: Any = field(default_factory=hashlib.sha256)
    _stage: int = 0
    _last: Any = None

    def feed(self, line: bytes) -> Header | ModuleRecord | Revision | ApiKey | AuditEntry | None:
        """The record ``line`` holds (None for the manifest); ``DumpError`` if it is
        malformed, out of place or, for the manifest, does not match what came before."""
        self.lines += 1
        if self.manifest is not None:
            raise DumpError(f"line {self.lines}: a record after the manifest", line=self.lines)
        record = decode_line(line, self.lines)
        if isinstance(record, Manifest):
            self._close(record)
            return None
        self._hash.update(line)
        if isinstance(record, Header):
            if self.header is not None or self.lines != 1:
                raise DumpError(f"line {self.lines}: a header that is not the first line")
            self.header = record
            return record
        if self.header is None:
            raise DumpError("line 1 is not the dump's header")
        if isinstance(record, Revision):
            if self._stage != 1 or record.record.info.id != self._last:
                raise DumpError(
                    f"line {self.lines}: a revision that does not follow its module",
                    line=self.lines,
                )
            self.counts["revisions"] = self.counts.get("revisions", 0) + 1
            return record
        self._order(record)
        if isinstance(record, ModuleRecord):
            self.counts["modules"] += 1
            self.wasm_bytes += record.info.size
        elif isinstance(record, ApiKey):
            self.counts["keys"] += 1
        else:
            self.counts["audit"] += 1
        return record

    def finish(self) -> Manifest:
        """The manifest, once every line was fed; ``DumpError`` if there was none."""
        if self.manifest is None:
            raise DumpError(
                f"the dump ends after {self.lines} lines without its manifest: it was cut short"
            )
        return self.manifest

    def _order(self, record: ModuleRecord | ApiKey | AuditEntry) -> None:
        stage = {ModuleRecord: 1, ApiKey: 2, AuditEntry: 3}[type(record)]
        ident: Any = (
            record.info.id
            if isinstance(record, ModuleRecord)
            else record.id
            if isinstance(record, ApiKey)
            else record.seq
        )
        if stage < self._stage or (stage == self._stage and ident <= self._last):
            raise DumpError(f"line {self.lines}: records out of order", line=self.lines)
        self._stage, self._last = stage, ident

    def _close(self, manifest: Manifest) -> None:
        digest = self._hash.hexdigest()
        if manifest.sha256 != digest:
            raise DumpError(
                f"the manifest's sha256 {manifest.sha256[:16]}... does not match the "
                f"{self.lines - 1} lines before it ({digest[:16]}...): the dump was altered"
            )
        if manifest.counts != self.counts or manifest.wasm_bytes != self.wasm_bytes:
            raise DumpError(
                f"the manifest counts {manifest.counts} ({manifest.wasm_bytes} bytes of wasm); "
                f"the dump holds {self.counts} ({self.wasm_bytes} bytes)"
            )
        self.manifest = manifest


def renamed(record: ModuleRecord | ApiKey, namespaces: dict[str, str]) -> Any:
    """``record`` moved to the namespace ``namespaces`` maps its own to (if any)."""
    if isinstance(record, ModuleRecord):
        target = namespaces.get(record.info.namespace)
        if target is None:
            return record
        info: ModuleInfo = replace(record.info, namespace=target)
        return ModuleRecord(info=info, wasm=record.wasm)
    target = namespaces.get(record.namespace)
    return record if target is None else replace(record, namespace=target)


def parse_since(value: str) -> datetime:
    """An RFC 3339 time with an offset (``2026-01-31T00:00:00+00:00`` or ``...Z``)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"since={value!r} is not an RFC 3339 time", field="since") from None
    if moment.tzinfo is None:
        raise InvalidRequest(f"since={value!r} needs a UTC offset, e.g. +00:00", field="since")
    return moment


async def lines_of(chunks: AsyncIterator[bytes], *, limit: int) -> AsyncIterator[bytes]:
    """The lines (each with its newline, the last one perhaps without) of a body that
    arrives in ``chunks``; ``DumpError`` for a line longer than ``limit`` bytes, before
    it is held whole."""
    pending = bytearray()
    async for chunk in chunks:
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", start)) >= 0:
            yield bytes(pending[start : end + 1])
            start = end + 1
        del pending[:start]
        if len(pending) > limit:
            raise DumpError(f"a line of the dump is longer than {limit} bytes")
    if pending:
        yield bytes(pending)
