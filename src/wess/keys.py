"""Managing API keys: mint, list, revoke (all through the Writer, all audited)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import structlog

from wess.errors import InvalidRequest, WessError
from wess.messages import Actor, CreateApiKey, RevokeApiKey, RotateKek, TouchApiKeys
from wess.models import NAMESPACE_MAX, ApiKey, Role, is_namespace_name
from wess.security.crypto import Keyring
from wess.security.keyfiles import begin_rotation
from wess.security.tokens import IssuedKey, KeyVerifier, issue_key
from wess.storage import ApiKeyStore
from wess.workers.periodic import PeriodicFlush
from wess.workers.writer import Writer

logger = structlog.get_logger(__name__)


class KeyService:
    """Issues keys (the token is returned once, only its HMAC is stored) and revokes them.

    A revoked key is refused by the very next check: the Writer's ``ApiKeyChanged``
    reaches the in-memory verifier before the revoke is answered.
    """

    def __init__(
        self,
        *,
        writer: Writer,
        keys: ApiKeyStore,
        hash_key: bytes,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._writer = writer
        self._keys = keys
        self._hash_key = hash_key
        self._clock = clock or (lambda: datetime.now(UTC))

    async def create(
        self,
        *,
        namespace: str,
        role: Role,
        name: str,
        expires_at: datetime | None,
        actor: Actor,
        request_id: str | None = None,
    ) -> IssuedKey:
        now = self._clock()
        if not is_namespace_name(namespace):
            raise InvalidRequest(
                f"namespace must be 1 to {NAMESPACE_MAX} printable characters", field="namespace"
            )
        if expires_at is not None and expires_at <= now:
            raise InvalidRequest("expires_at must be in the future", field="expires_at")
        issued = issue_key(
            hash_key=self._hash_key,
            namespace=namespace,
            role=role,
            name=name,
            now=now,
            expires_at=expires_at,
        )
        await self._writer.submit(CreateApiKey(key=issued.key, actor=actor, request_id=request_id))
        return issued

    async def list(self) -> list[ApiKey]:
        return await self._keys.list()

    async def revoke(self, key_id: str, *, actor: Actor, request_id: str | None = None) -> None:
        await self._writer.submit(RevokeApiKey(key_id=key_id, actor=actor, request_id=request_id))


class KekRotator:
    """``POST /v1/admin/rotate-kek``: a new key-encryption key, every data key re-wrapped.

    Writes wait while the Writer re-wraps; reads and runs go on. See
    ``security.keyfiles`` for why a crash at any point loses nothing.
    """

    def __init__(self, *, path: Path, keyring: Keyring, writer: Writer) -> None:
        self._path = path
        self._keyring = keyring
        self._writer = writer
        self._lock = asyncio.Lock()

    async def rotate(self, *, actor: Actor, request_id: str | None = None) -> tuple[str, int]:
        """The new KEK's id and how many stored values were re-wrapped."""
        async with self._lock:
            rotation = begin_rotation(self._path, self._keyring)
            job = RotateKek(kek_id=rotation.new.id, actor=actor, request_id=request_id)
            rewrapped = await self._writer.submit(job)
            self._keyring = rotation.finish()
            return rotation.new.id, rewrapped if isinstance(rewrapped, int) else 0


BOOTSTRAP_ACTOR = Actor(name="system:bootstrap")
"""The audit log's name for the admin key minted at the first start."""


class KeyUsageFlusher(PeriodicFlush):
    """Writes keys' last-used times every ``period`` seconds and at shutdown, in one job:
    a key check on the hot path only touches memory."""

    name = "wess-key-usage"

    def __init__(self, verifier: KeyVerifier, writer: Writer, *, period: float = 30.0) -> None:
        super().__init__(interval=period)
        self._verifier = verifier
        self._writer = writer

    async def flush(self) -> None:
        used = self._verifier.drain_last_used()
        if not used:
            return
        try:
            await self._writer.submit(TouchApiKeys(last_used=tuple(used.items())))
        except WessError as exc:  # housekeeping: never worth failing over
            logger.warning("key last-used times not recorded", reason=exc.code, keys=len(used))
