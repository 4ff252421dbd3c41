"""The audit chain: keyed, anchored, and the first broken link found after any tamper.

The attacker here can write the store but does not hold the server secret: every forged
entry is re-chained with plain hashes or under another key, the way the issue's attack
recomputed ``prev_hash``/``hash`` after changing an actor with rocksdict.
"""

from __future__ import annotations

import dataclasses
import hashlib

from hypothesis import assume, given
from hypothesis import strategies as st

from wess.models import UNKEYED_CHAIN, AuditEntry, AuditFields
from wess.security.audit import (
    CUT,
    FIELD_MAX,
    GENESIS,
    Anchor,
    AuditKey,
    Break,
    canonical,
    chain,
    entry_hash,
    legacy_hash,
    verify,
)

KEY = AuditKey(bytes(range(32)))
OTHER_KEY = AuditKey(bytes(range(1, 33)))
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


def build(fields_list: list[AuditFields], key: AuditKey = KEY) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    for fields in fields_list:
        entries.append(chain(entries[-1] if entries else None, fields, key=key))
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


def rechained_without_the_key(entries: list[AuditEntry]) -> list[AuditEntry]:
    """What someone with the store but not the secret can do: recompute every hash and
    link with plain SHA-256 (the chain as it was before it was keyed)."""
    forged: list[AuditEntry] = []
    for entry in entries:
        prev = forged[-1].hash if forged else GENESIS
        draft = dataclasses.replace(entry, prev_hash=prev, chain=UNKEYED_CHAIN, count=1)
        data = draft.to_dict()
        del data["hash"], data["chain"], data["count"]
        forged.append(dataclasses.replace(draft, hash=hashlib.sha256(canonical(data)).hexdigest()))
    return forged


def test_chain_links_each_entry_to_the_one_before_under_the_key():
    """The first entry starts from GENESIS at 1; each next one carries its predecessor's
    hash; each hash is an HMAC under the key, named in ``chain``."""
    first = chain(None, fields(), key=KEY)
    second = chain(first, fields(action="module.create"), key=KEY)
    assert (first.seq, first.prev_hash) == (1, GENESIS)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert first.hash == entry_hash(first, KEY)
    assert first.chain == f"hmac-sha256:{KEY.id}"
    assert entry_hash(first, OTHER_KEY) is None


def test_canonical_form_is_sorted_compact_utf8():
    """Serialization sorts keys, has no spaces and keeps non-ASCII text as UTF-8."""
    assert canonical({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()


def test_entries_round_trip_through_dicts():
    """to_dict/from_dict give back the same entry, which still verifies."""
    entries = build([fields(), fields(outcome="denied")])
    again = [AuditEntry.from_dict(e.to_dict()) for e in entries]
    assert again == entries
    assert verify(again, key=KEY).ok


@given(CHAINS)
def test_an_untouched_chain_verifies_and_reports_its_head(fields_list):
    """A chain built by chain() verifies in full, with its anchor, naming its head."""
    entries = build(fields_list)
    result = verify(entries, key=KEY, anchor=Anchor(entries[-1].seq, entries[-1].hash))
    assert result.ok
    assert result.checked == len(entries)
    assert result.head == Anchor(entries[-1].seq, entries[-1].hash)


@given(CHAINS, st.data())
def test_any_single_field_alteration_is_found_at_that_entry(fields_list, data):
    """Changing any one field of any entry breaks the chain exactly at that entry."""
    entries = build(fields_list)
    index = data.draw(st.integers(0, len(entries) - 1))
    name = data.draw(st.sampled_from(ENTRY_FIELDS))
    old = getattr(entries[index], name)
    new = data.draw(st.integers(-5, 50) if name in ("seq", "count") else TEXT)
    assume(new != old)
    entries[index] = dataclasses.replace(entries[index], **{name: new})
    result = verify(entries, key=KEY)
    assert not result.ok
    assert result.broken_at == index + 1
    assert result.checked == index


def test_a_rewritten_actor_re_chained_without_the_key_is_found():
    """The issue's attack: change an entry's actor, recompute prev_hash/hash of it and of
    every later entry. Without the key the forged entries cannot carry a keyed MAC: the
    first of them is the break, with or without an anchor."""
    entries = build([fields(), fields(), fields(), fields()])
    tampered = [*entries[:1], dataclasses.replace(entries[1], actor="api_key:innocent")]
    forged = rechained_without_the_key([*tampered, *entries[2:]])
    result = verify(forged, key=KEY)
    assert (result.ok, result.broken_at, result.reason) == (False, 1, Break.UNKEYED)
    keyed_under_another = build([fields(), fields(actor="api_key:innocent")], key=OTHER_KEY)
    result = verify(keyed_under_another, key=KEY)
    assert (result.broken_at, result.reason) == (1, Break.FOREIGN_KEY)


def test_a_rewrite_keeping_the_prefix_breaks_at_the_rewritten_entry():
    """Re-chaining only from the changed entry on: the change shows right there."""
    entries = build([fields(), fields(), fields()])
    changed = dataclasses.replace(entries[1], actor="api_key:innocent")
    forged = [entries[0], *rechained_without_the_key([changed, entries[2]])]
    forged[1] = dataclasses.replace(forged[1], prev_hash=entries[0].hash)
    result = verify(forged, key=KEY)
    assert (result.broken_at, result.reason) == (2, Break.UNKEYED)


@given(CHAINS, st.data())
def test_any_deletion_is_found_at_the_missing_sequence_number(fields_list, data):
    """Removing any entry is reported at its sequence number (the last one by the anchor)."""
    entries = build(fields_list)
    anchor = Anchor(entries[-1].seq, entries[-1].hash)
    index = data.draw(st.integers(0, len(entries) - 1))
    del entries[index]
    result = verify(entries, key=KEY, anchor=anchor)
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
    result = verify(entries, key=KEY)
    assert (result.ok, result.broken_at, result.reason) == (False, i + 1, Break.GAP)


def test_a_truncated_tail_is_found_only_with_the_anchor():
    """Dropping the newest entries leaves a valid chain; the anchor reveals it, and an
    anchor naming another hash at its entry reveals a rewritten tail."""
    entries = build([fields(), fields(), fields()])
    assert verify(entries[:2], key=KEY).ok
    result = verify(entries[:2], key=KEY, anchor=Anchor(3, entries[2].hash))
    assert (result.broken_at, result.reason) == (3, Break.TRUNCATED)
    assert result.head == Anchor(2, entries[1].hash)
    result = verify(entries, key=KEY, anchor=Anchor(2, "f" * 64))
    assert (result.broken_at, result.reason) == (2, Break.ANCHOR_MISMATCH)


def test_an_entry_without_the_keys_mac_never_verifies():
    """A plain-hashed entry (as before the chain was keyed, or forged so) is a break even
    when its plain hash and links are right: a log cannot be downgraded to verify."""
    plain = rechained_without_the_key(build([fields(), fields()]))
    assert plain[1].hash == legacy_hash(plain[1])
    result = verify(plain, key=KEY)
    assert (result.broken_at, result.reason) == (1, Break.UNKEYED)


def test_a_segment_verifies_after_a_trusted_entry():
    """A later segment of the log verifies against the last entry already trusted."""
    entries = build([fields(), fields(), fields(), fields()])
    assert verify(entries[2:], key=KEY, after=entries[1]).ok
    assert verify(entries[3:], key=KEY, after=entries[1]).broken_at == 3
    assert verify(entries[2:], key=KEY).broken_at == 1


def test_every_text_field_is_bounded_with_a_marker():
    """A 64 KB target (a failed login's raw path) is cut to its bound, marked with what
    was dropped, and the entry still verifies."""
    long = "/" + "a" * 65_535
    (entry,) = build([fields(target=long, actor="b" * 1000)])
    limit = FIELD_MAX["target"]
    assert entry.target == long[:limit] + CUT.format(more=len(long) - limit)
    assert entry.actor.startswith("b" * FIELD_MAX["actor"])
    assert "[+" in entry.actor
    assert verify([entry], key=KEY).ok
