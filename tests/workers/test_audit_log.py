"""audit_fields and AuditChain: what each job writes in the audit log, without any I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from tests.storage.builders import AUDIT_KEY, make_entries, make_key
from tests.workers.jobs import ALICE, create, delete, update
from wess.messages import (
    CreateApiKey,
    RecordUsage,
    RevokeApiKey,
    RotateKek,
    StoreArtifact,
    TouchApiKeys,
    WriteJob,
)
from wess.models import SealedArtifact
from wess.security.audit import verify
from wess.security.crypto import Kek, Keyring
from wess.workers.audit_log import ACTIONS, AuditChain, audit_fields, timestamp

NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
KEYRING = Keyring(Kek(bytes(32)))


@pytest.mark.parametrize(
    ("job", "action", "target"),
    [
        (create(actor=ALICE), "module.create", None),
        (update(create(), actor=ALICE), "module.update", None),
        (delete(create(), actor=ALICE), "module.delete", None),
        (CreateApiKey(key=make_key(), actor=ALICE), "key.create", make_key().id),
        (RevokeApiKey(key_id="k1", actor=ALICE), "key.revoke", "k1"),
        (RotateKek(kek_id=KEYRING.current.id, actor=ALICE), "kek.rotate", KEYRING.current.id),
    ],
)
def test_every_audited_job_names_its_action_and_target(
    job: WriteJob, action: str, target: str | None
) -> None:
    """Module jobs target the module id, key jobs the key id, a rotation the new KEK."""
    fields = audit_fields(job, outcome="ok", now=NOW)
    assert fields is not None
    assert fields.action == action
    assert fields.target == (target or str(getattr(job, "module_id", None)))
    assert (fields.actor, fields.client_ip, fields.time) == (
        ALICE.name,
        ALICE.client_ip,
        "2026-01-31T12:00:00.000000Z",
    )


def test_housekeeping_jobs_have_no_entry() -> None:
    """Artifacts, usage counts, key touches and module jobs without an actor: None."""
    artifact = SealedArtifact(digest="sha256:0", flavor="f", data=b"")
    for job in (
        StoreArtifact(module_id=uuid4(), artifact=artifact),
        RecordUsage(counts=()),
        TouchApiKeys(last_used=()),
        create(),
    ):
        assert audit_fields(job, outcome="ok", now=NOW) is None


def test_every_actor_job_kind_has_an_action() -> None:
    """The action table covers exactly the job kinds that carry an actor."""
    assert set(ACTIONS) == {
        "create",
        "update",
        "delete",
        "create_key",
        "revoke_key",
        "rotate_kek",
        "set_alias",
        "remove_alias",
    }


def test_timestamps_are_utc_with_every_microsecond() -> None:
    assert timestamp(datetime(2026, 1, 31, 12, 0, 0, 5, tzinfo=UTC)).endswith(".000005Z")


def test_the_chain_moves_only_when_told() -> None:
    """extend chains after the head without moving it; advance moves it to the last."""
    (first,) = make_entries(1)
    chain = AuditChain(first, key=AUDIT_KEY)
    fields = [audit_fields(create(actor=ALICE), outcome="ok", now=NOW) for _ in range(2)]
    entries = chain.extend([f for f in fields if f is not None])
    assert [e.seq for e in entries] == [2, 3]
    assert chain.extend([f for f in fields if f is not None]) == entries
    assert chain.head == first
    chain.advance(entries)
    assert chain.head == entries[-1]
    assert verify([first, *entries], key=AUDIT_KEY).ok
