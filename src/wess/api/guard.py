"""The gate every request passes: rate limits, authentication, authorization.

Every route declares the permission it needs (``requires``); a route that declares
none is refused, so a forgotten declaration fails closed. In order:

1. credentials in the query string are refused (logs and proxies keep URLs);
2. the client address's rate limit is counted (before authentication, so guessing
   keys is slow too);
3. the ``Authorization: Bearer`` credential is verified: a Wess API key (``wess_...``)
   in memory with one HMAC, or a JWT when JWTs are configured;
4. the key's (or subject's) own rate limit is counted;
5. the role must grant the permission (403 otherwise). Namespaces are enforced where
   the resource is read: another namespace's module is a 404, never a 403.

Refusals are counted, logged as security events, and audited (except rate limiting,
whose volume is the attacker's choice).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import structlog
from starlette.types import Scope

from wess.api.middleware import request_id_of
from wess.auditing import Auditor
from wess.errors import PermissionDenied, RateLimited, Unauthenticated, WessError
from wess.models import DEFAULT_NAMESPACE, Role
from wess.observability.metrics import Metrics
from wess.observability.tracing import Tracing
from wess.security.failures import AuthFailure, refuse
from wess.security.jwt import JwtVerifier
from wess.security.ratelimit import RateLimiter, RateScope
from wess.security.rbac import NAMESPACED, AuthMethod, Permission, Principal, authorize
from wess.security.tokens import KeyVerifier

logger = structlog.get_logger("wess.security")

PERMISSION_KEY = "x-wess-permission"
AUDIT_KEY = "x-wess-audit"
PRINCIPAL_SCOPE_KEY = "wess.principal"
KEY_PREFIX = "wess_"
QUERY_CREDENTIALS = frozenset(
    {"api_key", "apikey", "key", "token", "access_token", "auth", "authorization", "bearer"}
)
ANONYMOUS = Principal(
    subject="anonymous", namespace=DEFAULT_NAMESPACE, role=Role.ADMIN, method=AuthMethod.NONE
)
"""Who every request is when authentication is off (loopback binds only)."""


def requires(permission: Permission, *, audit: str | None = None) -> dict[str, str]:
    """The ``openapi_extra`` of a route: its permission, and the audit action of a
    state-changing route (also shown in ``/openapi.json``)."""
    extra = {PERMISSION_KEY: permission.value}
    if audit is not None:
        extra[AUDIT_KEY] = audit
    return extra


def declared(route: Any) -> tuple[Permission | None, str | None]:
    """The permission and audit action a matched route declares."""
    extra = getattr(route, "openapi_extra", None) or {}
    permission = extra.get(PERMISSION_KEY)
    return (Permission(permission) if permission else None), extra.get(AUDIT_KEY)


def principal_of(scope: Scope) -> Principal:
    """Who the guard admitted for this request."""
    principal: Principal = scope[PRINCIPAL_SCOPE_KEY]
    return principal


def namespace_scope(principal: Principal) -> str | None:
    """Where ``principal`` may read and run: its namespace, or every one for an admin."""
    return None if principal.role is Role.ADMIN else principal.namespace


def client_ip(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


@dataclass(frozen=True, slots=True)
class GuardPolicy:
    auth_enabled: bool
    metrics_open: bool


class Guard:
    """Admits a request for a permission, or raises the error that refuses it."""

    def __init__(
        self,
        *,
        policy: GuardPolicy,
        keys: KeyVerifier,
        jwt: JwtVerifier | None,
        limiter: RateLimiter,
        auditor: Auditor,
        metrics: Metrics,
        tracing: Tracing | None = None,
    ) -> None:
        self._policy = policy
        self._tracing = tracing
        # with tracing off the plain check runs: no span, no extra frame
        self._count = self._limit if tracing is None else self._traced_limit
        self._keys = keys
        self._jwt = jwt
        self._limiter = limiter
        self._auditor = auditor
        self._metrics = metrics
        self._denied = metrics.permission_denied
        self._limited = {scope: metrics.rate_limited.labels(scope=scope) for scope in RateScope}

    async def admit(
        self, scope: Scope, permission: Permission | None, *, action: str | None = None
    ) -> Principal | None:
        """The principal for this request (None for an anonymous public one)."""
        tracing = self._tracing
        if tracing is None or not tracing.recording():
            return await self._admit(scope, permission, action)
        with tracing.span("auth", {"wess.permission": str(permission)}) as span:
            principal = await self._admit(scope, permission, action)
            if principal is not None:
                span.set_attribute("wess.namespace", principal.namespace)
                span.set_attribute("wess.auth.method", principal.method.value)
            return principal

    async def _admit(
        self, scope: Scope, permission: Permission | None, action: str | None
    ) -> Principal | None:
        ip = client_ip(scope)
        principal: Principal | None = None
        try:
            await self._count(RateScope.IP, ip or "unknown", None)
            principal = self._authenticate(scope)
            if principal is not None and principal.method is not AuthMethod.NONE:
                await self._count(RateScope.KEY, principal.subject, principal.role)
            if permission is None:
                raise PermissionDenied("this route declares no permission; it is closed")
            if principal is None:
                if permission is Permission.PUBLIC or (
                    permission is Permission.METRICS_READ and self._policy.metrics_open
                ):
                    return None
                raise refuse(AuthFailure.MISSING)
            namespace = principal.namespace if permission in NAMESPACED else None
            decision = authorize(principal, permission, namespace=namespace)
            if not decision.allowed:
                raise PermissionDenied(decision.reason)
        except (Unauthenticated, PermissionDenied) as exc:
            await self._refused(scope, exc, principal, action or f"access:{permission}", ip)
            raise
        scope[PRINCIPAL_SCOPE_KEY] = principal
        return principal

    def _authenticate(self, scope: Scope) -> Principal | None:
        if _credentials_in_query(scope):
            raise Unauthenticated(
                "credentials in the query string are refused; send them in the "
                "Authorization header: Authorization: Bearer <token>",
                reason=AuthFailure.QUERY_STRING.value,
            )
        token = _bearer(scope)
        if token is None:
            return None if self._policy.auth_enabled else ANONYMOUS
        if not self._policy.auth_enabled:
            return ANONYMOUS
        if token.startswith(KEY_PREFIX) or self._jwt is None:
            return self._keys.verify(token)
        return self._jwt.verify(token)

    async def _traced_limit(self, scope: RateScope, identity: str, role: Role | None) -> None:
        assert self._tracing is not None
        with self._tracing.span("rate limit", {"wess.ratelimit.scope": scope.value}, leaf=True):
            await self._limit(scope, identity, role)

    async def _limit(self, scope: RateScope, identity: str, role: Role | None) -> None:
        limiter = self._limiter
        if limiter.local:  # no I/O: no coroutine, no allocation for an allowed request
            refusal = limiter.exceeded_now(scope, identity, role=role)
            if refusal is None:
                return
            decision = refusal
        else:
            decision = await limiter.check(scope, identity, role=role)
        if not decision.allowed:
            self._limited[scope].inc()
            logger.warning("rate limited", scope=scope.value, identity=identity)
            who = "client address" if scope is RateScope.IP else "key"
            error = RateLimited(
                f"too many requests from this {who}; retry in {decision.retry_after or 1} s",
                retry_after=decision.retry_after or 1,
                limit=decision.limit,
                reset=decision.reset,
            )
            raise error  # not audited: a flood of these must not fill the log

    async def _refused(
        self, scope: Scope, exc: WessError, principal: Principal | None, action: str, ip: str | None
    ) -> None:
        if isinstance(exc, Unauthenticated):
            self._metrics.auth_failures.labels(reason=exc.reason).inc()
            logger.warning(
                "authentication failed",
                reason=exc.reason,
                subject=exc.subject,
                client_ip=ip,
                path=scope.get("path"),
            )
            actor = f"unauthenticated:{exc.subject}" if exc.subject else "unauthenticated"
        else:
            self._denied.inc()
            actor = principal.actor if principal else "anonymous"
            logger.warning(
                "permission denied",
                actor=actor,
                client_ip=ip,
                path=scope.get("path"),
                detail=exc.detail,
            )
        await self._auditor.denied(
            exc,
            actor=actor,
            action=action,
            namespace=principal.namespace if principal else None,
            target=scope.get("path"),
            request_id=request_id_of(scope),
            client_ip=ip,
        )


def _credentials_in_query(scope: Scope) -> bool:
    query = scope.get("query_string", b"")
    if not query:
        return False
    names = {name.lower() for name, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True)}
    return not names.isdisjoint(QUERY_CREDENTIALS)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            text: str = value.decode("latin-1")
            scheme, _, token = text.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise refuse(AuthFailure.MALFORMED)
            return token.strip()
    return None
