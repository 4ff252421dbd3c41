"""API keys: ``wess_<key id>_<secret>`` tokens, stored only as an HMAC of the secret.

The key id is public (it appears in logs and the audit trail); the secret is 256
random bits shown once, at creation. Wess keeps ``HMAC-SHA256(k, secret)`` with ``k =
ServerSecret.derive("api-keys")``: a stolen key table is useless without the server
secret, and a fast keyed hash (not a password hash) is right for 256-bit secrets.
Revoking a key is deleting its record.

``KeyVerifier`` checks a token on the request path from memory: no I/O, one HMAC.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from wess.models import ApiKey, Role
from wess.security.failures import AuthFailure, refuse
from wess.security.rbac import AuthMethod, Principal

TOKEN_PREFIX = "wess"  # noqa: S105 - the public prefix of every token
SECRET_BYTES = 32
KEY_ID_HEX = 16
HASH_LABEL = "api-keys"
"""The ``ServerSecret.derive`` label of the key that hashes API key secrets."""

_SECRET_CHARS = len(base64.urlsafe_b64encode(bytes(SECRET_BYTES)).rstrip(b"="))
VERIFIED_MAX = 4096
"""Most tokens remembered as verified; the memory is emptied when it fills."""

_TOKEN = re.compile(
    rf"{TOKEN_PREFIX}_(?P<id>[0-9a-f]{{{KEY_ID_HEX}}})_(?P<secret>[A-Za-z0-9_-]{{{_SECRET_CHARS}}})"
)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key: the token to hand over once, and the record to store."""

    token: str = field(repr=False)
    key: ApiKey


def issue_key(
    *,
    hash_key: bytes,
    namespace: str,
    role: Role,
    name: str,
    now: datetime,
    expires_at: datetime | None = None,
) -> IssuedKey:
    """Mint a key: a fresh id and secret; the record holds only the secret's HMAC."""
    key_id = secrets.token_hex(KEY_ID_HEX // 2)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).rstrip(b"=").decode()
    record = ApiKey(
        id=key_id,
        namespace=namespace,
        role=role,
        name=name,
        created_at=now,
        expires_at=expires_at,
        hash=secret_hash(hash_key, secret).hex(),
    )
    return IssuedKey(f"{TOKEN_PREFIX}_{key_id}_{secret}", record)


def secret_hash(hash_key: bytes, secret: str) -> bytes:
    """``HMAC-SHA256(hash_key, secret)``: what is stored instead of the secret."""
    return hmac.digest(hash_key, secret.encode("ascii"), "sha256")


@dataclass(frozen=True, slots=True)
class _Entry:
    digest: bytes
    expires: float | None
    principal: Principal


class KeyVerifier:
    """Checks tokens against keys held in memory: no I/O, one HMAC per check.

    The owner keeps it current with ``load``/``add``/``remove`` when keys change.
    Successful checks are remembered in ``last_used`` for a periodic batched write;
    ``drain_last_used`` hands them over.
    """

    def __init__(
        self,
        *,
        hash_key: bytes,
        keys: Iterable[ApiKey] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        # Keyed once; each check copies the keyed state (0.5 us cheaper than hmac.digest).
        self._mac = hmac.new(hash_key, digestmod=hashlib.sha256)
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        # Tokens that verified, by their exact text: a repeat costs one dict lookup
        # instead of a regex and an HMAC. Only an exact, complete token can hit.
        self._verified: dict[str, tuple[str, _Entry]] = {}
        self._last_used: dict[str, float] = {}
        self.load(keys)

    def load(self, keys: Iterable[ApiKey]) -> None:
        """Replace every key held with ``keys``."""
        self._entries = {key.id: _entry(key) for key in keys}
        self._verified.clear()

    def add(self, key: ApiKey) -> None:
        self._entries[key.id] = _entry(key)

    def remove(self, key_id: str) -> None:
        self._entries.pop(key_id, None)
        self._last_used.pop(key_id, None)
        self._verified.clear()  # revoked now, for every token that was remembered

    def verify(self, token: str) -> Principal:
        """The principal ``token`` speaks for; ``Unauthenticated`` with a reason if none.

        The reasons are checked in this order, so only the holder of a right secret
        learns that the key has expired.
        """
        remembered = self._verified.get(token)
        if remembered is not None:
            known_id, known = remembered
            now = self._clock()
            # still the same key record (a revoke or replace drops it from _entries)
            if self._entries.get(known_id) is known and (
                known.expires is None or known.expires > now
            ):
                self._last_used[known_id] = now
                return known.principal
            del self._verified[token]
        match = _TOKEN.fullmatch(token)
        if match is None:
            raise refuse(AuthFailure.MALFORMED)
        key_id, secret = match.group("id", "secret")
        # Hash before the lookup: the work is the same whether or not the id exists.
        mac = self._mac.copy()
        mac.update(secret.encode("ascii"))
        digest = mac.digest()
        entry = self._entries.get(key_id)
        if entry is None:
            raise refuse(AuthFailure.UNKNOWN_KEY, subject=key_id)
        if not hmac.compare_digest(digest, entry.digest):
            raise refuse(AuthFailure.BAD_SECRET, subject=key_id)
        now = self._clock()
        if entry.expires is not None and entry.expires <= now:
            raise refuse(AuthFailure.EXPIRED, subject=key_id)
        self._last_used[key_id] = now
        if len(self._verified) >= VERIFIED_MAX:
            self._verified.clear()
        self._verified[token] = (key_id, entry)
        return entry.principal

    def drain_last_used(self) -> dict[str, datetime]:
        """Key id -> last successful use since the previous drain; then forget them."""
        used, self._last_used = self._last_used, {}
        return {key_id: datetime.fromtimestamp(at, UTC) for key_id, at in used.items()}


def touched(key: ApiKey, at: datetime) -> ApiKey:
    """``key`` with ``last_used_at`` moved forward to ``at`` (never backward)."""
    if key.last_used_at is not None and key.last_used_at >= at:
        return key
    return replace(key, last_used_at=at)


def _entry(key: ApiKey) -> _Entry:
    principal = Principal(
        subject=key.id, namespace=key.namespace, role=key.role, method=AuthMethod.API_KEY
    )
    expires = key.expires_at.timestamp() if key.expires_at is not None else None
    return _Entry(bytes.fromhex(key.hash), expires, principal)
