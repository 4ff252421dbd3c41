"""The wess-export/1 format: records round trip, and a damaged dump is told apart."""

from __future__ import annotations

import base64
import hashlib

import orjson
import pytest

from tests.storage.builders import make_entries, make_key, make_record
from wess.ops.dump import (
    DumpError,
    DumpReader,
    Header,
    Manifest,
    audit_line,
    header_line,
    key_line,
    lines_of,
    manifest_line,
    module_line,
)

HEADER = Header(created_at="2026-01-31T00:00:00Z", wess="0.1.0", audit_chain="hmac-sha256:ak-x")


def dump_lines() -> list[bytes]:
    record = make_record()
    lines = [header_line(HEADER), module_line(record), key_line(make_key())]
    lines += [audit_line(entry) for entry in make_entries(2)]
    digest = hashlib.sha256(b"".join(lines)).hexdigest()
    counts = {"modules": 1, "keys": 1, "audit": 2}
    return [*lines, manifest_line(Manifest(counts, record.info.size, digest))]


def read(lines: list[bytes]) -> list[object]:
    reader = DumpReader()
    records = [reader.feed(line) for line in lines]
    reader.finish()
    return records


def test_every_record_reads_back_as_written() -> None:
    """Header, module (bytes and metadata), key and audit entries decode to what was
    encoded, and the manifest closes them."""
    lines = dump_lines()
    records = read(lines)
    assert records[0] == HEADER
    assert records[2] == make_key()
    assert records[-1] is None  # the manifest


def test_a_module_whose_bytes_do_not_match_its_digest_is_refused() -> None:
    """The line of a module with other bytes than its digest names: refused, naming it."""
    lines = dump_lines()
    document = orjson.loads(lines[1])
    document["wasm"] = base64.b64encode(b"\0asm-other").decode()
    lines[1] = orjson.dumps(document) + b"\n"
    with pytest.raises(DumpError, match=r"line 2: module .* do not match its digest"):
        read(lines)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda lines: lines[:-1], "without its manifest"),
        (
            lambda lines: [*lines[:3], lines[3].replace(b"target-1", b"target-X"), *lines[4:]],
            "altered",
        ),
        (lambda lines: [lines[0], lines[2], lines[1], *lines[3:]], "out of order"),
        (lambda lines: lines[1:], "line 1 is not the dump's header"),
        (lambda lines: [*lines, lines[1]], "after the manifest"),
        (lambda lines: [lines[0], b"{not json\n", *lines[1:]], "line 2 is not a"),
    ],
)
def test_a_cut_altered_or_reordered_dump_is_refused(damage, message) -> None:
    """A dump cut short, changed anywhere, or out of order never reads as whole."""
    with pytest.raises(DumpError, match=message):
        read(damage(dump_lines()))


async def test_lines_are_split_across_chunks_and_bounded() -> None:
    """A body cut anywhere gives back its lines; a line past the limit is refused."""

    async def chunks(body: bytes, size: int):
        for start in range(0, len(body), size):
            yield body[start : start + size]

    lines = dump_lines()
    body = b"".join(lines)
    got = [line async for line in lines_of(chunks(body, 7), limit=1 << 20)]
    assert got == lines
    with pytest.raises(DumpError, match="longer than 100 bytes"):
        _ = [line async for line in lines_of(chunks(body, 7), limit=100)]
