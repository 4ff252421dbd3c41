"""The audit chain: building it, and finding the first broken link after any tamper."""

from __future__ import annotations

import dataclasses

from hypothesis import assume, given
from hypothesis import strategies as st

from wess.models import AuditEntry, AuditFields
from wess.security.audit import GENESIS, Break, canonical, chain, entry_hash, verify

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
OPTIONAL = st.none() | TEXT
FIELDS = st.builds(
    AuditFields,
    time=st.just("2026-01-31T12:00:00.000000Z") | TEXT,
    actor=TEXT,
    namespace=OPTIONAL,
    action=TEXT,
    target=OPTIONAL,
    outcome=st.sampled_from(["allowed", "denied", "error"]),
    request_id=OPTIONAL,
    client_ip=OPTIONAL,
)
CHAINS = st.lists(FIELDS, min_size=1, max_size=8)
ENTRY_FIELDS = [f.name for f in dataclasses.fields(AuditEntry)]


def build(fields_list: list[AuditFields]) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    for fields in fields_list:
        entries.append(chain(entries[-1] if entries else None, fields))
    return entries


def fields(**overrides) -> AuditFields:
    base = {
        "time": "2026-01-31T12:00:00.000000Z",
        "actor": "api_key:0123456789abcdef",
        "namespace": "team-a",
        "action": "module.delete",
        "target": "3f1c7a2e",
        "outcome": "allowed",
        "request_id": "req-1",
        "client_ip": "10.0.0.1",
    }
    return AuditFields(**{**base, **overrides})


def test_chain_links_each_entry_to_the_one_before():
    """The first entry starts from GENESIS at 1; each next one carries its predecessor's hash."""
    first = chain(None, fields())
    second = chain(first, fields(action="module.create"))
    assert (first.seq, first.prev_hash) == (1, GENESIS)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert first.hash == entry_hash(first)
    assert len(first.hash) == 64


def test_canonical_form_is_sorted_compact_utf8():
    """Serialization sorts keys, has no spaces and keeps non-ASCII text as UTF-8."""
    assert canonical({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()


def test_entries_round_trip_through_dicts():
    """to_dict/from_dict give back the same entry, which still verifies."""
    entries = build([fields(), fields(outcome="denied")])
    again = [AuditEntry.from_dict(e.to_dict()) for e in entries]
    assert again == entries
    assert verify(again).ok


@given(CHAINS)
def test_an_untouched_chain_verifies(fields_list):
    """A chain built by chain() verifies in full, with or without its head."""
    entries = build(fields_list)
    result = verify(entries, head=entries[-1].hash)
    assert result.ok
    assert result.checked == len(entries)


@given(CHAINS, st.data())
def test_any_single_field_alteration_is_found_at_that_entry(fields_list, data):
    """Changing any one field of any entry breaks the chain exactly at that entry."""
    entries = build(fields_list)
    index = data.draw(st.integers(0, len(entries) - 1))
    name = data.draw(st.sampled_from(ENTRY_FIELDS))
    old = getattr(entries[index], name)
    new = data.draw(st.integers(-5, 50) if name == "seq" else TEXT)
    assume(new != old)
    entries[index] = dataclasses.replace(entries[index], **{name: new})
    result = verify(entries)
    assert not result.ok
    assert result.broken_at == index + 1
    assert result.checked == index


@given(CHAINS, st.data())
def test_any_deletion_is_found_at_the_missing_sequence_number(fields_list, data):
    """Removing any entry is reported at its sequence number (the last one needs the head)."""
    entries = build(fields_list)
    head = entries[-1].hash
    index = data.draw(st.integers(0, len(entries) - 1))
    del entries[index]
    result = verify(entries, head=head)
    assert not result.ok
    assert result.broken_at == index + 1
    expected = Break.TRUNCATED if index == len(entries) else Break.GAP
    assert result.reason is expected


@given(st.lists(FIELDS, min_size=2, max_size=8), st.data())
def test_reordering_is_found_at_the_first_displaced_entry(fields_list, data):
    """Swapping two entries breaks the chain at the earlier position."""
    entries = build(fields_list)
    i = data.draw(st.integers(0, len(entries) - 2))
    j = data.draw(st.integers(i + 1, len(entries) - 1))
    entries[i], entries[j] = entries[j], entries[i]
    result = verify(entries)
    assert (result.ok, result.broken_at, result.reason) == (False, i + 1, Break.GAP)


def test_a_rehashed_alteration_is_found_at_the_next_link():
    """An altered entry whose hash was recomputed breaks the link to its successor."""
    entries = build([fields(), fields(), fields()])
    forged = dataclasses.replace(entries[1], outcome="denied")
    entries[1] = dataclasses.replace(forged, hash=entry_hash(forged))
    result = verify(entries)
    assert (result.broken_at, result.reason) == (3, Break.UNLINKED)


def test_without_a_head_a_cut_tail_goes_unnoticed():
    """Dropping the newest entries leaves a valid chain; only the kept head reveals it."""
    entries = build([fields(), fields(), fields()])
    assert verify(entries[:2]).ok
    result = verify(entries[:2], head=entries[2].hash)
    assert (result.broken_at, result.reason) == (3, Break.TRUNCATED)


def test_a_segment_verifies_after_a_trusted_entry():
    """A later segment of the log verifies against the last entry already trusted."""
    entries = build([fields(), fields(), fields(), fields()])
    assert verify(entries[2:], after=entries[1]).ok
    assert verify(entries[3:], after=entries[1]).broken_at == 3
    assert verify(entries[2:]).broken_at == 1
