"""Who is calling, for handlers: the guard as a FastAPI dependency, and the caller's view.

Every router depends on ``guarded``: it admits the request for the permission its
route declares and, for a state-changing route, records an audit entry when the
request fails before the Writer audited it (a body too large, invalid wasm ...), so
each such request leaves exactly one entry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import UUID

from starlette.requests import Request
from starlette.types import Scope

from wess.api.guard import ANONYMOUS, client_ip, declared, namespace_scope, principal_of
from wess.api.middleware import request_id_of
from wess.api.state import state_of
from wess.errors import WessError
from wess.messages import Actor
from wess.security.rbac import Principal


async def guarded(request: Request) -> AsyncIterator[None]:
    state = state_of(request)
    permission, action = declared(request.scope.get("route"))
    principal = await state.guard.admit(request.scope, permission, action=action)
    if action is None:
        yield
        return
    try:
        yield
    except WessError as exc:
        who = principal or ANONYMOUS
        await state.auditor.refused(
            exc,
            actor=who.actor,
            action=action,
            namespace=who.namespace,
            target=request.path_params.get("module_id") or request.path_params.get("key_id"),
            request_id=request_id_of(request.scope),
            client_ip=client_ip(request.scope),
        )
        raise


async def addressed(request: Request, raw: str) -> UUID:
    """The id of the module a path segment names: an id, or a module's name in the
    caller's namespace (an admin's own, for names)."""
    return await state_of(request).service.resolve(
        raw, namespace=principal_of(request.scope).namespace
    )


@dataclass(frozen=True, slots=True)
class Caller:
    """The admitted principal as handlers need it."""

    principal: Principal
    actor: Actor
    home: str
    """The namespace new modules go to."""
    reads: str | None
    """The namespace reads and runs are limited to (None: every one, for an admin)."""
    request_id: str


def caller(scope: Scope) -> Caller:
    principal = principal_of(scope)
    return Caller(
        principal=principal,
        actor=Actor(name=principal.actor, client_ip=client_ip(scope)),
        home=principal.namespace,
        reads=namespace_scope(principal),
        request_id=request_id_of(scope),
    )
