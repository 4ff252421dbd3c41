"""Roles, permissions and the one pure function that decides.

Four roles, from most to least powerful:

- ``admin``: every permission in every namespace.
- ``developer``: creates, updates, deletes, reads, downloads and runs modules in its
  own namespace, and reads and writes its key-value state (``/v1/kv``).
- ``invoker``: runs modules and reads their metadata in its own namespace.
- ``viewer``: reads module metadata in its own namespace.

Downloading a module's bytes (``MODULE_DOWNLOAD``) is for ``developer`` and ``admin``
only: the bytes are another team's code, and running a function needs no copy of it.
Key management, the audit log and metrics are ``admin`` only; ``PUBLIC`` (health,
OpenAPI) needs no credentials at all.

A resource in another namespace is reported as ``NOT_FOUND`` before any permission is
looked at, so a caller cannot learn what exists outside its namespace: callers turn
that into a 404, never a 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from wess.models import Role


class Permission(StrEnum):
    MODULE_CREATE = "module:create"
    MODULE_UPDATE = "module:update"
    MODULE_DELETE = "module:delete"
    MODULE_READ = "module:read"
    """Metadata: name, digest, functions; never the bytes."""
    MODULE_DOWNLOAD = "module:download"
    """The stored WebAssembly bytes."""
    MODULE_RUN = "module:run"
    KV_READ = "kv:read"
    """The namespace's key-value state (``/v1/kv``): keys and values."""
    KV_WRITE = "kv:write"
    KEY_MANAGE = "key:manage"
    AUDIT_READ = "audit:read"
    STORE_ADMIN = "store:admin"
    """Check, export or back up the whole store, across every namespace."""
    METRICS_READ = "metrics:read"
    PUBLIC = "public"
    """Health checks and the API description: anyone, even without credentials."""


class AuthMethod(StrEnum):
    API_KEY = "api_key"
    JWT = "jwt"
    NONE = "none"
    """Authentication is switched off (allowed on loopback binds only)."""


NAMESPACED: frozenset[Permission] = frozenset(
    {
        Permission.MODULE_CREATE,
        Permission.MODULE_UPDATE,
        Permission.MODULE_DELETE,
        Permission.MODULE_READ,
        Permission.MODULE_DOWNLOAD,
        Permission.MODULE_RUN,
        Permission.KV_READ,
        Permission.KV_WRITE,
    }
)
"""Permissions on something that lives in a namespace; the others are server-wide."""

GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.DEVELOPER: NAMESPACED | {Permission.PUBLIC, Permission.METRICS_READ},
    Role.INVOKER: frozenset(
        {Permission.MODULE_RUN, Permission.MODULE_READ, Permission.PUBLIC, Permission.METRICS_READ}
    ),
    Role.VIEWER: frozenset({Permission.MODULE_READ, Permission.PUBLIC, Permission.METRICS_READ}),
}
"""What each role may do (within its own namespace, for namespaced permissions)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who is calling: the outcome of authentication, the input of authorization.

    ``subject`` is the API key id for ``API_KEY`` and the JWT ``sub`` for ``JWT``.
    """

    subject: str
    namespace: str
    role: Role
    method: AuthMethod

    @property
    def actor(self) -> str:
        """``api_key:<id>`` or ``jwt:<sub>``: the audit log's name for this caller."""
        return f"{self.method}:{self.subject}"


class Outcome(StrEnum):
    ALLOW = "allow"
    UNAUTHENTICATED = "unauthenticated"
    """No principal, and the permission is not ``PUBLIC``: answer 401."""
    NOT_FOUND = "not_found"
    """The resource is in another namespace: answer 404 as if it did not exist."""
    FORBIDDEN = "forbidden"
    """The role lacks the permission: answer 403."""


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    reason: str

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOW


ALLOWED = Decision(Outcome.ALLOW, "allowed")


def authorize(
    principal: Principal | None, permission: Permission, *, namespace: str | None
) -> Decision:
    """May ``principal`` do ``permission`` on something in ``namespace``?

    ``namespace`` is the resource's namespace, or None for a server-wide action (for a
    namespaced permission None means "across every namespace", which only ``admin``
    may do). ``principal`` is None for an anonymous request.
    """
    if permission is Permission.PUBLIC:
        return ALLOWED
    if principal is None:
        return Decision(Outcome.UNAUTHENTICATED, "credentials are required")
    if principal.role is Role.ADMIN:
        return ALLOWED
    if permission in NAMESPACED and namespace is not None and namespace != principal.namespace:
        return Decision(Outcome.NOT_FOUND, "the resource is in another namespace")
    if permission not in GRANTS[principal.role]:
        return Decision(Outcome.FORBIDDEN, f"the {principal.role} role does not grant {permission}")
    if permission in NAMESPACED and namespace is None:
        return Decision(Outcome.FORBIDDEN, "only an admin may act across every namespace")
    return ALLOWED
