"""Why a credential was refused: the closed set of ``reason`` labels of
``wess_auth_failures_total{reason}``.

A closed set keeps the metric's label cardinality bounded; the reason goes to logs and
metrics only, never into a response (telling "unknown key" from "wrong secret" would
help an attacker).
"""

from __future__ import annotations

from enum import StrEnum

from wess.errors import Unauthenticated


class AuthFailure(StrEnum):
    """One reason a presented API key or JWT did not authenticate."""

    MISSING = "missing"
    """No credentials at all."""
    MALFORMED = "malformed"
    """Not shaped like a Wess API key or a JWT."""
    UNKNOWN_KEY = "unknown_key"
    """No API key with that id, or no JWT verification key for that ``kid``."""
    BAD_SECRET = "bad_secret"  # noqa: S105 - a metric label, not a secret
    """The API key id exists but the secret does not match."""
    BAD_SIGNATURE = "bad_signature"
    """The JWT signature does not verify."""
    EXPIRED = "expired"
    """Past its expiry (API key ``expires_at``, JWT ``exp``)."""
    NOT_YET_VALID = "not_yet_valid"
    """A JWT whose ``nbf`` or ``iat`` lies in the future."""
    ALGORITHM_NOT_ALLOWED = "algorithm_not_allowed"
    """A JWT signed with ``none`` or an algorithm outside the configured list."""
    WRONG_ISSUER = "wrong_issuer"
    WRONG_AUDIENCE = "wrong_audience"
    MISSING_CLAIM = "missing_claim"
    """A required JWT claim (``exp``, ``sub``, namespace, role ...) is absent."""
    INVALID_CLAIM = "invalid_claim"
    QUERY_STRING = "query_string"
    """Credentials sent in the URL, where logs and proxies keep them: always refused."""
    """A JWT claim is present but unusable (an unknown role, an empty namespace)."""


def refuse(reason: AuthFailure, *, subject: str | None = None) -> Unauthenticated:
    """The error to raise for ``reason``: one generic detail, and no context, whatever the
    reason (``subject`` is the key id or ``kid`` presented, for the log)."""
    return Unauthenticated("missing or invalid credentials", reason=reason.value, subject=subject)
