"""Write jobs for the Writer tests."""

from __future__ import annotations

from uuid import UUID, uuid4

from tests.storage.builders import make_content, unique_wasm
from wess.messages import Actor, CreateModule, DeleteModule, UpdateModule
from wess.models import DEFAULT_NAMESPACE

ALICE = Actor(name="api_key:00000000000a11ce", client_ip="192.0.2.7")


def create(
    module_id: UUID | None = None,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    seed: str = "1",
    size: int = 64,
    actor: Actor | None = None,
    request_id: str | None = None,
) -> CreateModule:
    return CreateModule(
        module_id=module_id or uuid4(),
        namespace=namespace,
        content=make_content(unique_wasm(seed, size)),
        actor=actor,
        request_id=request_id,
    )


def update(
    job: CreateModule,
    *,
    seed: str = "2",
    size: int = 64,
    actor: Actor | None = None,
    if_match: str | None = None,
) -> UpdateModule:
    return UpdateModule(
        module_id=job.module_id,
        namespace=job.namespace,
        content=make_content(unique_wasm(seed, size)),
        actor=actor,
        if_match=if_match,
    )


def delete(job: CreateModule, *, actor: Actor | None = None) -> DeleteModule:
    return DeleteModule(module_id=job.module_id, namespace=job.namespace, actor=actor)
