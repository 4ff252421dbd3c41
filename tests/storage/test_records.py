"""The stored record form: orjson, versioned, refusing what it cannot read."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from tests.storage.builders import make_record
from wess.errors import IntegrityError
from wess.models import SCHEMA_VERSION
from wess.storage.records import decode_info, encode_info, verified_wasm


def test_round_trip_keeps_every_field() -> None:
    """decode(encode(info)) == info, legacy metadata and function signatures included."""
    info = make_record(legacy=True).info
    assert decode_info(encode_info(info)) == info


def test_stored_form_is_plain_json_with_a_schema_version() -> None:
    """Ids are strings, times ISO-8601 UTC, functions {name, params, results}."""
    info = make_record().info
    document = orjson.loads(encode_info(info))
    assert document["schema_version"] == SCHEMA_VERSION
    assert document["id"] == str(info.id)
    assert document["created_at"] == "2025-01-02T03:04:05.678901+00:00"
    assert document["functions"][0] == {"name": "sum", "params": ["i32", "i32"], "results": ["i32"]}


def test_stored_form_is_byte_for_byte_the_documented_layout() -> None:
    """encode_info writes exactly the object it always wrote, key order included: ids and
    times as strings, signatures as {name, params, results}, legacy metadata as its
    fields (stores written before read the same, and so do other tools)."""
    info = make_record(legacy=True).info
    legacy = info.legacy_metadata
    assert legacy is not None
    expected = {
        "schema_version": SCHEMA_VERSION,
        "id": str(info.id),
        "namespace": info.namespace,
        "name": info.name,
        "digest": info.digest,
        "size": info.size,
        "revision": info.revision,
        "created_at": "2025-01-02T03:04:05.678901+00:00",
        "updated_at": "2025-01-02T03:04:05.678901+00:00",
        "functions": [
            {"name": "sum", "params": ["i32", "i32"], "results": ["i32"]},
            {"name": "nothing", "params": [], "results": []},
        ],
        "default_function": "sum",
        "legacy_metadata": {
            "function_name": legacy.function_name,
            "args": list(legacy.args),
            "return_type": list(legacy.return_type),
        },
    }
    assert encode_info(info) == orjson.dumps(expected)


def test_times_in_other_zones_are_stored_as_utc() -> None:
    """A timestamp with an offset is converted, not kept in its zone."""
    info = make_record().info
    local = info.created_at.astimezone(timezone(timedelta(hours=2)))
    stored = orjson.loads(encode_info(dataclasses.replace(info, created_at=local)))
    assert stored["created_at"].endswith("+00:00")
    assert decode_info(encode_info(dataclasses.replace(info, created_at=local))) == info


def test_naive_times_cannot_be_encoded() -> None:
    """A datetime without a zone has no known instant: ValueError, not a guess."""
    info = dataclasses.replace(make_record().info, updated_at=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="naive"):
        encode_info(info)


@pytest.mark.parametrize("version", [SCHEMA_VERSION + 1, 0, "1", None, True])
def test_unknown_schema_versions_are_refused(version: object) -> None:
    """A record from a newer (or unknown) layout raises IntegrityError naming the version."""
    info = make_record().info
    document = orjson.loads(encode_info(info))
    document["schema_version"] = version
    with pytest.raises(IntegrityError, match="schema_version") as caught:
        decode_info(orjson.dumps(document))
    assert str(info.id) in str(caught.value)


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[1, 2]",
        orjson.dumps({"schema_version": SCHEMA_VERSION}),
        orjson.dumps({"schema_version": SCHEMA_VERSION, "id": "nope"}),
    ],
)
def test_malformed_records_are_integrity_errors(data: bytes) -> None:
    """Anything that does not decode to a whole ModuleInfo raises IntegrityError."""
    with pytest.raises(IntegrityError):
        decode_info(data)


def test_a_wrong_field_type_is_an_integrity_error() -> None:
    """Well-formed JSON with a field of the wrong type is refused, not coerced."""
    document = orjson.loads(encode_info(make_record().info))
    document["revision"] = "2"
    with pytest.raises(IntegrityError, match="malformed"):
        decode_info(orjson.dumps(document))


def test_verified_wasm_checks_the_digest() -> None:
    """Bytes pass when their sha256 matches the record, else IntegrityError with both digests."""
    record = make_record()
    assert verified_wasm(record.info, record.wasm) == record.wasm
    with pytest.raises(IntegrityError, match=record.digest):
        verified_wasm(record.info, record.wasm + b"\0")
