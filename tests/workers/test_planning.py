"""plan(): what each write job becomes, checked without any I/O."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from uuid import uuid4

import pytest

from tests.storage.builders import T0, make_content, make_key, make_record, unique_wasm
from tests.workers.jobs import ALICE
from wess.errors import KeyNotFound, ModuleNotFound, PreconditionFailed
from wess.messages import (
    ApiKeyChanged,
    CreateApiKey,
    CreateModule,
    DeleteModule,
    RevokeApiKey,
    StoreArtifact,
    TouchApiKeys,
    UpdateModule,
)
from wess.models import DEFAULT_NAMESPACE, SealedArtifact
from wess.storage import PutApiKey, PutArtifact, PutModule, PutRevision, RemoveApiKey, RemoveModule
from wess.workers.planning import plan, plan_key, plan_touch


def artifact_for(digest: str) -> SealedArtifact:
    return SealedArtifact(digest=digest, flavor="wasmtime-1+abc", data=b"aot")


def test_a_create_carries_its_artifact_into_the_same_commit() -> None:
    """The artifact compiled at upload becomes a PutArtifact right after the PutModule
    and its first revision."""
    content = make_content()
    content = dataclasses.replace(content, artifact=artifact_for(content.digest))
    job = CreateModule(module_id=uuid4(), namespace=DEFAULT_NAMESPACE, content=content)
    planned = plan(job, None, now=T0)
    assert [type(change) for change in planned.changes] == [PutModule, PutRevision, PutArtifact]
    assert planned.changes[2] == PutArtifact(job.module_id, content.artifact)


def test_an_artifact_of_other_bytes_is_left_out() -> None:
    """Content whose artifact names another digest commits the module (and its new
    revision) alone."""
    content = make_content()
    content = dataclasses.replace(content, artifact=artifact_for("sha256:" + "0" * 64))
    current = make_record().info
    job = UpdateModule(module_id=current.id, namespace=current.namespace, content=content)
    planned = plan(job, current, now=T0)
    assert [type(change) for change in planned.changes] == [PutModule, PutRevision]


def test_store_artifact_needs_the_module_with_those_bytes() -> None:
    """StoreArtifact: the module must exist and hold the artifact's digest; it changes
    nothing else and publishes no event."""
    current = make_record().info
    job = StoreArtifact(module_id=current.id, artifact=artifact_for(current.digest))
    planned = plan(job, current, now=T0)
    assert planned.changes == (PutArtifact(current.id, job.artifact),)
    assert planned.info == current
    assert planned.event is None
    with pytest.raises(ModuleNotFound):
        plan(job, None, now=T0)
    replaced = make_record(current.id, wasm=unique_wasm("v2")).info
    with pytest.raises(PreconditionFailed):
        plan(job, replaced, now=T0)


def test_a_delete_is_one_removal() -> None:
    """A delete plans one RemoveModule (which takes artifacts and counts with it)."""
    current = make_record().info
    job = DeleteModule(module_id=current.id, namespace=current.namespace)
    assert plan(job, current, now=T0).changes == (RemoveModule(current.id),)


def test_key_jobs_plan_one_change_and_one_event() -> None:
    """A create over no key puts it and announces it; a revoke of an existing key removes
    it and announces it gone; the opposite cases are refused."""
    key = make_key()
    create = CreateApiKey(key=key, actor=ALICE)
    planned = plan_key(create, None)
    assert planned.changes == (PutApiKey(key),)
    assert planned.event == ApiKeyChanged(key_id=key.id, key=key)
    with pytest.raises(PreconditionFailed):
        plan_key(create, key)
    revoke = RevokeApiKey(key_id=key.id, actor=ALICE)
    planned = plan_key(revoke, key)
    assert planned.changes == (RemoveApiKey(key.id),)
    assert planned.event == ApiKeyChanged(key_id=key.id, key=None)
    with pytest.raises(KeyNotFound):
        plan_key(revoke, None)


def test_touches_keep_the_latest_time_of_keys_that_exist() -> None:
    """Several touches of one key keep the latest; absent keys and older times drop out."""
    key, gone = make_key("000000000000000a"), make_key("000000000000000b")
    early, late = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
    job = TouchApiKeys(last_used=((key.id, late), (key.id, early), (gone.id, late)))
    assert plan_touch(job, {key.id: key, gone.id: None}) == (
        dataclasses.replace(key, last_used_at=late),
    )
    current = dataclasses.replace(key, last_used_at=late)
    assert plan_touch(TouchApiKeys(last_used=((key.id, early),)), {key.id: current}) == ()
