"""API keys: minting, storing only an HMAC, checking from memory, bootstrapping an admin."""

from __future__ import annotations

import os
import stat
import threading
from datetime import UTC, datetime, timedelta

import pytest
import structlog

from wess.errors import ConfigError, Unauthenticated
from wess.models import ApiKey, Role
from wess.security.bootstrap import ADMIN_KEY_FILE, bootstrap_admin, write_token_file
from wess.security.failures import AuthFailure
from wess.security.rbac import AuthMethod
from wess.security.secrets import ServerSecret
from wess.security.tokens import (
    HASH_LABEL,
    KeyVerifier,
    issue_key,
    secret_hash,
    touched,
)

NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
HASH_KEY = ServerSecret(b"s" * 32).derive(HASH_LABEL)


def mint(role=Role.DEVELOPER, namespace="team-a", expires_at=None):
    return issue_key(
        hash_key=HASH_KEY,
        namespace=namespace,
        role=role,
        name="ci",
        now=NOW,
        expires_at=expires_at,
    )


def reason_of(verifier: KeyVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(token)
    assert str(caught.value) == "missing or invalid credentials"
    assert caught.value.context == {}  # context reaches response bodies; reasons must not
    return caught.value.reason


def test_token_format_and_secret_strength():
    """Tokens read wess_<16 hex id>_<43 urlsafe chars>: 256 random bits, no padding."""
    issued = mint()
    prefix, key_id, secret = issued.token.split("_", 2)
    assert prefix == "wess"
    assert key_id == issued.key.id
    assert len(key_id) == 16
    assert int(key_id, 16) >= 0
    assert len(secret) == 43
    assert "=" not in secret
    assert mint().token != issued.token


def test_only_the_hmac_of_the_secret_is_stored():
    """The record holds HMAC-SHA256(server-derived key, secret), never the secret or token."""
    issued = mint()
    secret = issued.token.split("_", 2)[2]
    assert issued.key.hash == secret_hash(HASH_KEY, secret).hex()
    assert secret not in repr(issued.key.to_dict()).replace(issued.key.hash, "")
    assert issued.token not in repr(issued)
    assert issued.key.hash not in repr(issued.key)


def test_a_valid_token_yields_its_principal_and_is_remembered_as_used():
    """A good token maps to the key's namespace and role; its use is kept for a batched write."""
    issued = mint()
    verifier = KeyVerifier(hash_key=HASH_KEY, keys=[issued.key], clock=lambda: 1000.0)
    principal = verifier.verify(issued.token)
    assert principal.subject == issued.key.id
    assert (principal.namespace, principal.role) == ("team-a", Role.DEVELOPER)
    assert principal.method is AuthMethod.API_KEY
    assert verifier.drain_last_used() == {issued.key.id: datetime.fromtimestamp(1000, UTC)}
    assert verifier.drain_last_used() == {}


@pytest.mark.parametrize(
    "token",
    [
        "",
        "Bearer x",
        "wess_",
        "wess_0123456789abcdef",
        "wess_0123456789ABCDEF_" + "a" * 43,
        "wess_0123456789abcdef_" + "a" * 42,
        "wess_0123456789abcdef_" + "a" * 44,
        "wess_0123456789abcdef_" + "a" * 42 + "=",
        "wess_0123456789abcdef_" + "é" * 43,
        "other_0123456789abcdef_" + "a" * 43,
    ],
)
def test_malformed_tokens_are_refused_as_malformed(token):
    """Anything not shaped like a Wess token fails with reason 'malformed'."""
    verifier = KeyVerifier(hash_key=HASH_KEY, keys=[mint().key])
    assert reason_of(verifier, token) == AuthFailure.MALFORMED


def test_unknown_id_and_wrong_secret_have_distinct_reasons():
    """An id Wess does not know is 'unknown_key'; a known id with another secret 'bad_secret'."""
    issued, other = mint(), mint()
    verifier = KeyVerifier(hash_key=HASH_KEY, keys=[issued.key])
    assert reason_of(verifier, other.token) == AuthFailure.UNKNOWN_KEY
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(other.token)
    assert caught.value.subject == other.key.id  # for the log, not the response
    forged = f"wess_{issued.key.id}_{other.token.split('_', 2)[2]}"
    assert reason_of(verifier, forged) == AuthFailure.BAD_SECRET


def test_a_token_hashed_under_another_server_secret_does_not_verify():
    """The same records under a different server secret refuse every token (bad_secret)."""
    issued = mint()
    other_key = ServerSecret(b"t" * 32).derive(HASH_LABEL)
    verifier = KeyVerifier(hash_key=other_key, keys=[issued.key])
    assert reason_of(verifier, issued.token) == AuthFailure.BAD_SECRET


def test_expiry_is_reported_only_to_the_holder_of_the_right_secret():
    """An expired key fails as 'expired' with its secret, and as 'bad_secret' without it."""
    issued = mint(expires_at=NOW + timedelta(hours=1))
    at = {"now": NOW.timestamp()}
    verifier = KeyVerifier(hash_key=HASH_KEY, keys=[issued.key], clock=lambda: at["now"])
    verifier.verify(issued.token)
    at["now"] = (NOW + timedelta(hours=1)).timestamp()
    assert reason_of(verifier, issued.token) == AuthFailure.EXPIRED
    forged = f"wess_{issued.key.id}_{mint().token.split('_', 2)[2]}"
    assert reason_of(verifier, forged) == AuthFailure.BAD_SECRET
    assert verifier.drain_last_used() == {issued.key.id: NOW}


def test_removed_keys_stop_verifying_at_once():
    """Revocation is deletion: once removed from the verifier a token is an unknown key."""
    issued = mint()
    verifier = KeyVerifier(hash_key=HASH_KEY, keys=[issued.key])
    verifier.verify(issued.token)
    verifier.remove(issued.key.id)
    assert reason_of(verifier, issued.token) == AuthFailure.UNKNOWN_KEY
    verifier.add(issued.key)
    verifier.verify(issued.token)
    verifier.load([])
    assert reason_of(verifier, issued.token) == AuthFailure.UNKNOWN_KEY


def test_records_round_trip_through_their_dict_form():
    """to_dict/from_dict keep every field, times included."""
    key = touched(mint(expires_at=NOW + timedelta(days=30)).key, NOW + timedelta(minutes=1))
    assert ApiKey.from_dict(key.to_dict()) == key


def test_touched_never_moves_last_use_backwards():
    """A late batch of last-use times cannot overwrite a newer one."""
    key = touched(mint().key, NOW)
    assert touched(key, NOW - timedelta(seconds=1)) is key
    assert touched(key, NOW + timedelta(seconds=1)).last_used_at == NOW + timedelta(seconds=1)


class KeyList:
    """Where bootstrap finds existing keys and stores the one it mints."""

    def __init__(self) -> None:
        self.keys: list[ApiKey] = []

    async def existing(self) -> list[ApiKey]:
        return list(self.keys)

    async def store(self, key: ApiKey) -> None:
        self.keys.append(key)


async def test_bootstrap_writes_a_private_admin_token_once(tmp_path):
    """The first start writes admin.key (0600) with a working admin token; later starts don't."""
    keys = KeyList()
    start = {"existing": keys.existing, "store": keys.store, "hash_key": HASH_KEY}
    with structlog.testing.capture_logs() as logs:
        record = await bootstrap_admin(**start, data_dir=tmp_path, now=NOW)
    assert record is not None
    assert record.role is Role.ADMIN
    path = tmp_path / ADMIN_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = path.read_text().strip()
    verifier = KeyVerifier(hash_key=HASH_KEY, keys=keys.keys)
    assert verifier.verify(token).role is Role.ADMIN
    assert token not in repr(logs)
    assert token.split("_", 2)[2] not in repr(logs)
    assert await bootstrap_admin(**start, data_dir=tmp_path, now=NOW) is None
    assert len(keys.keys) == 1
    assert [p.name for p in tmp_path.iterdir()] == [ADMIN_KEY_FILE]


async def test_bootstrap_leaves_no_file_when_the_store_fails(tmp_path):
    """If the record cannot be stored, the token file is removed again."""

    async def broken(key: ApiKey) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        await bootstrap_admin(
            existing=KeyList().existing,
            store=broken,
            hash_key=HASH_KEY,
            data_dir=tmp_path,
            now=NOW,
        )
    assert list(tmp_path.iterdir()) == []


def test_token_file_is_never_replaced_nor_readable_by_others(tmp_path):
    """An existing admin.key is kept; the file is 0600 even under a permissive umask."""
    old = os.umask(0)
    try:
        path = write_token_file(tmp_path / "admin.key", "wess_first")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(ConfigError, match="already exists"):
        write_token_file(path, "wess_second")
    assert path.read_text() == "wess_first\n"
    assert [p.name for p in tmp_path.iterdir()] == ["admin.key"]


def test_token_file_is_never_seen_partial_or_public(tmp_path):
    """While the file is written, a watcher sees no file or the whole 0600 file, never less."""
    path = tmp_path / "admin.key"
    token = "wess_" + "x" * 60
    seen: list[tuple[int, str]] = []
    done = threading.Event()

    def watch():
        while not done.is_set():
            try:
                mode = stat.S_IMODE(path.stat().st_mode)
                seen.append((mode, path.read_text()))
            except FileNotFoundError:
                continue

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        write_token_file(path, token)
    finally:
        done.set()
        watcher.join()
    assert all(entry == (0o600, token + "\n") for entry in seen)


def test_a_remembered_token_is_refused_once_revoked_replaced_or_expired():
    """Verified tokens are remembered for speed, but a revoke, a replacement of the key
    record or its expiry refuses the very next check."""
    import pytest

    from wess.errors import Unauthenticated
    from wess.models import Role
    from wess.security.tokens import KeyVerifier, issue_key

    now = [1_000.0]
    hash_key = b"k" * 32
    issued = issue_key(
        hash_key=hash_key,
        namespace="a",
        role=Role.VIEWER,
        name="t",
        now=datetime.fromtimestamp(now[0], UTC),
        expires_at=datetime.fromtimestamp(now[0] + 60, UTC),
    )
    verifier = KeyVerifier(hash_key=hash_key, keys=[issued.key], clock=lambda: now[0])
    assert verifier.verify(issued.token).namespace == "a"
    assert verifier.verify(issued.token).namespace == "a"  # from memory
    now[0] += 61
    with pytest.raises(Unauthenticated):
        verifier.verify(issued.token)
    now[0] -= 61
    verifier.add(issued.key)
    assert verifier.verify(issued.token)
    verifier.remove(issued.key.id)
    with pytest.raises(Unauthenticated):
        verifier.verify(issued.token)
