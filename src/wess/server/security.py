"""Assembling the security parts: keys, JWTs, rate limits, the guard, audit, KEK rotation."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import structlog

from wess.api.guard import Guard, GuardPolicy
from wess.auditing import Auditor, AuditTrail
from wess.circuit import CircuitBreaker
from wess.config import Settings
from wess.config.live import LiveSettings
from wess.errors import ConfigError, WessError
from wess.keys import BOOTSTRAP_ACTOR, KekRotator, KeyService, KeyUsageFlusher
from wess.messages import ApiKeyChanged, CreateApiKey
from wess.models import ApiKey, Role
from wess.observability.metrics import Metrics
from wess.observability.tracing import Tracing
from wess.security.anchor import AnchorFile
from wess.security.audit import AuditKey
from wess.security.bootstrap import bootstrap_admin
from wess.security.crypto import Keyring
from wess.security.jwt import JwtSettings, JwtVerifier
from wess.security.ratelimit import (
    COUNTERS,
    DEFAULT_PER_ROLE,
    RatePolicy,
    RedisFailurePolicy,
    open_rate_limiter,
)
from wess.security.secrets import ServerSecret
from wess.security.tokens import HASH_LABEL, KeyVerifier
from wess.server.resilience import redis_breaker, retune
from wess.storage import ChangeFeed, Event, Store
from wess.workers.writer import Writer

logger = structlog.get_logger(__name__)

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


@dataclass(frozen=True, slots=True)
class Security:
    guard: Guard
    auditor: Auditor
    keys: KeyService
    audit: AuditTrail
    rotator: KekRotator | None
    redis_breaker: CircuitBreaker | None = None
    """The breaker in front of the Redis rate-limit counters (None: counted in memory)."""


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_auth_setting(settings: Settings) -> None:
    """Authentication may only be switched off on a server nobody else can reach."""
    if not settings.auth.enabled and not is_loopback(settings.server.host):
        raise ConfigError(
            f"auth.enabled = false is refused: server.host = {settings.server.host!r} is "
            "reachable from other machines; bind to 127.0.0.1 (or ::1) to run without "
            "authentication, or keep it on"
        )


def metrics_open(settings: Settings) -> bool:
    mode = settings.auth.metrics
    return mode == "open" or (mode == "auto" and is_loopback(settings.server.host))


def rate_policy(settings: Settings) -> RatePolicy:
    per_key = settings.ratelimit.per_key
    per_role = {role: per_key for role in Role} if per_key else dict(DEFAULT_PER_ROLE)
    return RatePolicy(per_ip=settings.ratelimit.per_ip, per_role=per_role)


def jwt_verifier(settings: Settings) -> JwtVerifier | None:
    auth = settings.auth
    if not auth.jwt_configured:
        return None
    if auth.jwt_audience is None:
        raise ConfigError("auth.jwt_audience is required when auth.jwt_issuer is set")
    secret = auth.jwt_hs256_secret_file.read_bytes().strip() if auth.jwt_hs256_secret_file else None
    return JwtVerifier.from_settings(
        JwtSettings(
            issuer=auth.jwt_issuer or "",
            audience=auth.jwt_audience,
            algorithms=tuple(a.strip() for a in auth.jwt_algorithms.split(",") if a.strip()),
            public_key_file=auth.jwt_public_key_file,
            jwks_file=auth.jwt_jwks_file,
            hs256_secret=secret,
            namespace_claim=auth.jwt_namespace_claim,
            role_claim=auth.jwt_role_claim,
        )
    )


@asynccontextmanager
async def open_security(
    settings: Settings,
    *,
    store: Store,
    writer: Writer,
    secret: ServerSecret,
    keyring: Keyring | None,
    audit_key: AuditKey,
    anchors: AnchorFile | None,
    data_dir: Path,
    metrics: Metrics,
    feed: ChangeFeed | None = None,
    tracing: Tracing | None = None,
    live: LiveSettings | None = None,
) -> AsyncIterator[Security]:
    """The security parts, with the Writer running; on first start (auth on, no admin
    key yet) an admin key is minted and its token written to ``<data dir>/admin.key``.
    The rate limits follow ``live`` when given."""
    check_auth_setting(settings)
    hash_key = secret.derive(HASH_LABEL)
    verifier = KeyVerifier(hash_key=hash_key, keys=await store.keys.list())

    def follow(event: ApiKeyChanged) -> None:
        if event.key is None:
            verifier.remove(event.key_id)
        else:
            verifier.add(event.key)

    writer.subscribe_keys(follow)
    reloads: set[asyncio.Task[None]] = set()
    if feed is not None:  # keys created or revoked on other nodes

        def heard(event: Event) -> None:
            if isinstance(event, ApiKeyChanged):
                follow(event)

        async def reload() -> None:
            try:
                verifier.load(await store.keys.list())
            except WessError as exc:
                logger.error(
                    "API keys not reloaded after a gap in the change feed", error=exc.detail
                )

        def gap() -> None:  # revokes may have been missed: read every key again
            task = asyncio.create_task(reload())
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        feed.subscribe(heard)
        feed.on_gap(gap)
    if settings.auth.enabled:

        async def keep(key: ApiKey) -> None:
            await writer.submit(CreateApiKey(key=key, actor=BOOTSTRAP_ACTOR))

        await bootstrap_admin(
            existing=store.keys.list,
            store=keep,
            hash_key=hash_key,
            data_dir=data_dir,
            now=datetime.now(UTC),
        )
    auditor = Auditor(
        writer,
        metrics=metrics,
        window=settings.audit.refusal_window,
        sources=settings.audit.refusal_sources,
    )
    ratelimit = settings.ratelimit
    shared = COUNTERS.get(urlsplit(ratelimit.storage).scheme) == "redis"
    breaker = redis_breaker(settings, metrics=metrics) if shared else None
    limiter = open_rate_limiter(
        ratelimit.storage,
        rate_policy(settings),
        breaker=breaker,
        on_failure=RedisFailurePolicy(ratelimit.on_redis_failure),
        timeout=ratelimit.redis_timeout_ms / 1000,
        degraded=lambda outcome: metrics.ratelimit_degraded.labels(outcome=outcome).inc(),
    )
    if live is not None:

        def reconfigured(settings: Settings) -> None:
            auditor.set_window(settings.audit.refusal_window)
            limiter.set_policy(rate_policy(settings))
            configured = settings.ratelimit
            limiter.set_failure_policy(RedisFailurePolicy(configured.on_redis_failure))
            if breaker is not None:
                retune(breaker, configured.breaker_failures, configured.breaker_cooldown)

        live.subscribe(reconfigured)
    try:
        guard = Guard(
            policy=GuardPolicy(
                auth_enabled=settings.auth.enabled, metrics_open=metrics_open(settings)
            ),
            keys=verifier,
            jwt=jwt_verifier(settings),
            limiter=limiter,
            auditor=auditor,
            metrics=metrics,
            tracing=tracing,
        )
        key_file = settings.security.encryption_key_file
        rotator = (
            KekRotator(path=key_file, keyring=keyring, writer=writer)
            if keyring is not None and key_file is not None
            else None
        )
        async with auditor, KeyUsageFlusher(verifier, writer):
            yield Security(
                guard=guard,
                auditor=auditor,
                keys=KeyService(writer=writer, keys=store.keys, hash_key=hash_key),
                audit=AuditTrail(store.audit, key=audit_key, anchors=anchors),
                rotator=rotator,
                redis_breaker=breaker,
            )
    finally:
        await limiter.aclose()
