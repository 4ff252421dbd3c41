"""The configuration's sections about who may do what: keys and JWTs, rate limits,
secrets, the audit log, TLS and quotas."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from limits import parse as parse_limit
from pydantic import Field, field_validator

from wess.config import resilience
from wess.config.section import Section as _Section


class AuthSettings(_Section):
    RELOADABLE = frozenset()

    enabled: bool = Field(
        True,
        description="Require an API key or JWT; false is refused unless server.host "
        "is a loopback address.",
    )
    metrics: Literal["auto", "open", "key"] = Field(
        "auto",
        description="/metrics access: auto (open on a loopback bind, a key "
        "otherwise), open, or key (any role).",
    )
    jwt_issuer: str | None = Field(None, description="Accept JWTs from this issuer (iss).")
    jwt_audience: str | None = Field(None, description="Accept JWTs for this audience (aud).")
    jwt_algorithms: str = Field(
        "RS256,ES256", description="Comma-separated JWT algorithms: RS256, ES256, HS256."
    )
    jwt_public_key_file: Path | None = Field(None, description="PEM public key for JWTs.")
    jwt_jwks_file: Path | None = Field(None, description="JWKS file of public keys for JWTs.")
    jwt_hs256_secret_file: Path | None = Field(
        None, description="File holding the HS256 secret (>= 32 bytes)."
    )
    jwt_namespace_claim: str = Field("wess_ns", description="JWT claim naming the namespace.")
    jwt_role_claim: str = Field("wess_role", description="JWT claim naming the role.")

    @property
    def jwt_configured(self) -> bool:
        return self.jwt_issuer is not None


class RatelimitSettings(_Section):
    RELOADABLE = frozenset(
        {"per_ip", "per_key", "on_redis_failure", "breaker_failures", "breaker_cooldown"}
    )

    per_ip: str = Field(
        "1000/minute",
        description="Requests per client address (limits notation, e.g. 1000/minute).",
    )
    per_key: str | None = Field(
        None,
        description="Requests per API key or JWT subject; unset: by role (admin "
        "6000, developer and invoker 3000, viewer 600 per minute).",
    )
    storage: str = Field(
        "memory://", description="Counter storage: memory:// (one node) or redis://host:port."
    )
    on_redis_failure: Literal["open", "closed"] = resilience.ON_REDIS_FAILURE
    redis_timeout_ms: int = resilience.REDIS_TIMEOUT_MS
    breaker_failures: int = resilience.REDIS_BREAKER_FAILURES
    breaker_cooldown: float = resilience.REDIS_BREAKER_COOLDOWN

    @field_validator("per_ip", "per_key")
    @classmethod
    def _limit_notation(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_limit(value)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a limit such as '1000/minute' or '10/second'"
                ) from None
        return value


class SecuritySettings(_Section):
    RELOADABLE = frozenset()

    encryption_key_file: Path | None = Field(
        None,
        description="Key-encryption key (base64, 32 bytes; `wess keys generate-kek`): "
        "module bytes and artifacts are sealed with AES-256-GCM when set.",
    )
    secret_file: Path | None = Field(
        None,
        description="The server secret (API key hashes, artifact seals, the audit chain's "
        "key); unset: server.secret in the data directory. Kept elsewhere, a copy of "
        "the data directory alone cannot forge the audit log.",
    )


class AuditSettings(_Section):
    RELOADABLE = frozenset({"anchor_interval", "refusal_window"})

    anchor_file: Path | None = Field(
        None,
        description="Where the audit log's head is recorded outside the store (MACed), so "
        "removing entries from its end is detected; unset: audit.anchor in the data "
        "directory.",
    )
    anchor_interval: float = Field(
        1.0,
        gt=0,
        le=3600,
        description="Seconds between records of the head (when it moved), and at shutdown.",
    )
    refusal_window: float = Field(
        60.0,
        gt=0,
        le=86_400,
        description="Refused requests (401, 403) from one client address with one outcome "
        "are written once per window, then as one entry with their count.",
    )
    refusal_sources: int = Field(
        10_000,
        ge=1,
        le=10_000_000,
        description="Most (address, outcome) pairs counted at once; past it, refusals "
        "from further addresses share one entry per outcome.",
    )


class TlsSettings(_Section):
    RELOADABLE = frozenset()

    cert_file: Path | None = Field(None, description="Certificate chain (PEM): serve HTTPS.")
    key_file: Path | None = Field(None, description="Private key (PEM) of cert_file.")
    client_ca_file: Path | None = Field(
        None, description="CA (PEM) that client certificates must chain to (mTLS)."
    )

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None


class QuotasSettings(_Section):
    RELOADABLE = frozenset({"max_modules", "max_bytes"})

    max_modules: int | None = Field(
        None, ge=1, description="Modules per namespace (507 past it); unset: unlimited."
    )
    max_bytes: int | None = Field(
        None, ge=1, description="Stored wasm bytes per namespace (507); unset: unlimited."
    )
