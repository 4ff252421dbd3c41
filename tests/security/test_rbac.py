"""Roles and permissions: every role x permission, namespaces, and anonymous callers."""

from __future__ import annotations

import itertools

import pytest

from wess.models import Role
from wess.security.rbac import AuthMethod, Outcome, Permission, Principal, authorize

P = Permission
EXPECTED: dict[Role, set[Permission]] = {
    Role.ADMIN: set(Permission),
    Role.DEVELOPER: {
        P.MODULE_CREATE,
        P.MODULE_UPDATE,
        P.MODULE_DELETE,
        P.MODULE_READ,
        P.MODULE_DOWNLOAD,
        P.MODULE_RUN,
        P.KV_READ,
        P.KV_WRITE,
        P.PUBLIC,
        P.METRICS_READ,
    },
    # /metrics "needs a key with the viewer role" (or any role above it) off loopback
    Role.INVOKER: {P.MODULE_RUN, P.MODULE_READ, P.PUBLIC, P.METRICS_READ},
    Role.VIEWER: {P.MODULE_READ, P.PUBLIC, P.METRICS_READ},
}
NAMESPACED = {
    P.MODULE_CREATE,
    P.MODULE_UPDATE,
    P.MODULE_DELETE,
    P.MODULE_READ,
    P.MODULE_DOWNLOAD,
    P.MODULE_RUN,
    P.KV_READ,
    P.KV_WRITE,
}


def who(role: Role, namespace: str = "team-a") -> Principal:
    return Principal(subject="k1", namespace=namespace, role=role, method=AuthMethod.API_KEY)


@pytest.mark.parametrize(("role", "permission"), list(itertools.product(Role, Permission)))
def test_role_permission_table_in_the_own_namespace(role, permission):
    """In its own namespace a role may do exactly what the table grants; the rest is 403."""
    namespace = "team-a" if permission in NAMESPACED else None
    decision = authorize(who(role), permission, namespace=namespace)
    expected = Outcome.ALLOW if permission in EXPECTED[role] else Outcome.FORBIDDEN
    assert decision.outcome is expected


@pytest.mark.parametrize(("role", "permission"), list(itertools.product(Role, sorted(NAMESPACED))))
def test_other_namespaces_look_empty_to_every_role_but_admin(role, permission):
    """A resource in another namespace is 'not found' (never 'forbidden'); admin sees all."""
    decision = authorize(who(role), permission, namespace="team-b")
    expected = Outcome.ALLOW if role is Role.ADMIN else Outcome.NOT_FOUND
    assert decision.outcome is expected


@pytest.mark.parametrize("role", [Role.DEVELOPER, Role.INVOKER, Role.VIEWER])
def test_only_admin_acts_across_every_namespace(role):
    """A namespaced permission without a namespace ('all of them') is admin-only."""
    assert authorize(who(role), P.MODULE_READ, namespace=None).outcome is Outcome.FORBIDDEN
    assert authorize(who(Role.ADMIN), P.MODULE_READ, namespace=None).allowed


@pytest.mark.parametrize("permission", list(Permission))
def test_anonymous_callers_get_only_public(permission):
    """Without a principal only PUBLIC is allowed; everything else asks for credentials."""
    decision = authorize(None, permission, namespace="team-a")
    expected = Outcome.ALLOW if permission is P.PUBLIC else Outcome.UNAUTHENTICATED
    assert decision.outcome is expected


def test_bytes_are_for_developers_and_admins_only():
    """Downloading module bytes is granted to developer and admin, not invoker or viewer."""
    allowed = {r for r in Role if authorize(who(r), P.MODULE_DOWNLOAD, namespace="team-a").allowed}
    assert allowed == {Role.ADMIN, Role.DEVELOPER}


def test_a_refusal_says_why():
    """The reason of a refusal (the 403's detail) names the role and the permission."""
    decision = authorize(who(Role.VIEWER), P.MODULE_RUN, namespace="team-a")
    assert decision.outcome is Outcome.FORBIDDEN
    assert decision.reason == f"the viewer role does not grant {P.MODULE_RUN}"


def test_principal_names_itself_for_the_audit_log():
    """The actor string says how the caller authenticated and who it is."""
    principal = Principal(subject="alice", namespace="a", role=Role.VIEWER, method=AuthMethod.JWT)
    assert principal.actor == "jwt:alice"
