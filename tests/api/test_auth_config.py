"""Authentication settings through the real app: JWTs, /metrics access, auth off, Redis."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.api.security_helpers import WASM, bearer, mint
from tests.fixtures import wasm
from tests.support import require_service
from wess.errors import ConfigError
from wess.observability.metrics import Metrics
from wess.server import open_state
from wess.testing import assert_problem, open_client, test_settings

ISSUER = "https://idp.example"
AUDIENCE = "wess"


@pytest.fixture(scope="module")
def rsa_key(tmp_path_factory):
    """An RSA key pair: the private key signs tokens, the public PEM file verifies them."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("jwt") / "public.pem"
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key, path


def token(key, **claims) -> str:
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "exp": now + 300,
        "iat": now,
        "wess_ns": "team-a",
        "wess_role": "developer",
        **claims,
    }
    return jwt.encode(payload, key, algorithm="RS256")


def jwt_settings(public_key_file):
    return test_settings(
        WESS_AUTH_JWT_ISSUER=ISSUER,
        WESS_AUTH_JWT_AUDIENCE=AUDIENCE,
        WESS_AUTH_JWT_ALGORITHMS="RS256",
        WESS_AUTH_JWT_PUBLIC_KEY_FILE=str(public_key_file),
    )


async def test_a_valid_jwt_acts_in_its_namespace_with_its_role(rsa_key):
    """A JWT's wess_ns and wess_role claims decide where and what; sub is the actor."""
    key, public = rsa_key
    async with open_client(jwt_settings(public)) as client:
        alice = token(key)
        created = await client.post(
            "/v1/modules", content=wasm("sum"), headers={**WASM, **bearer(alice)}
        )
        assert created.status_code == 201, created.text
        assert created.json()["namespace"] == "team-a"
        audit = (await client.get("/v1/audit", params={"action": "module.create"})).json()
        assert audit["items"][-1]["actor"] == "jwt:alice"


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("expired", lambda key: token(key, exp=int(time.time()) - 600)),
        ("wrong audience", lambda key: token(key, aud="someone-else")),
        ("wrong issuer", lambda key: token(key, iss="https://evil.example")),
        (
            "other key",
            lambda key: token(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        ),
        (
            "alg none",
            lambda key: jwt.encode(
                {
                    "iss": ISSUER,
                    "aud": AUDIENCE,
                    "sub": "x",
                    "exp": int(time.time()) + 60,
                    "wess_ns": "a",
                    "wess_role": "admin",
                },
                None,
                algorithm="none",
            ),
        ),
        ("HS256 with the public key", lambda key: _hs256_confusion(key)),
        ("unknown role", lambda key: token(key, wess_role="emperor")),
    ],
)
async def test_bad_jwts_are_401(rsa_key, case, make):
    """alg none, a bad signature, expiry, wrong iss/aud, key confusion, bad claims: 401."""
    key, public = rsa_key
    async with open_client(jwt_settings(public), as_admin=False) as client:
        response = await client.get("/v1/modules", headers=bearer(make(key)))
        assert_problem(response, 401, "unauthenticated")


def _hs256_confusion(key) -> str:
    """An HS256 token MACed with the RSA public key's PEM as the secret (the classic
    algorithm-confusion attack). PyJWT refuses to build it, so it is built by hand."""
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(
        json.dumps(
            {
                "iss": ISSUER,
                "aud": AUDIENCE,
                "sub": "x",
                "exp": int(time.time()) + 60,
                "wess_ns": "a",
                "wess_role": "admin",
            }
        ).encode()
    )
    secret = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64(signature)}"


async def test_metrics_are_open_on_loopback_and_need_a_key_elsewhere():
    """/metrics: open on a loopback bind; on any other bind, any role's key."""
    async with open_client(test_settings(), as_admin=False) as client:
        assert (await client.get("/metrics")).status_code == 200
    async with open_client(test_settings(WESS_SERVER_HOST="0.0.0.0")) as admin:
        viewer = await mint(admin, "team-a", "viewer")
        async with open_client(test_settings(WESS_SERVER_HOST="0.0.0.0"), as_admin=False) as client:
            assert_problem(await client.get("/metrics"), 401, "unauthenticated")
        ok = await admin.get("/metrics", headers=bearer(viewer))
        assert ok.status_code == 200
        assert "wess_auth_failures_total" in ok.text


async def test_auth_off_is_refused_unless_bound_to_loopback():
    """WESS_AUTH_ENABLED=false on 0.0.0.0 stops start-up; on 127.0.0.1 everyone is admin."""
    with pytest.raises(ConfigError, match=r"auth\.enabled"):
        async with open_state(
            test_settings(WESS_AUTH_ENABLED="false", WESS_SERVER_HOST="0.0.0.0"), metrics=Metrics()
        ):
            pass
    async with open_client(test_settings(WESS_AUTH_ENABLED="false"), as_admin=False) as client:
        assert (
            await client.post("/v1/modules", content=wasm("sum"), headers=WASM)
        ).status_code == 201


async def test_sandbox_violations_are_counted_by_kind(client):
    """Traps, timeouts and memory limits are security events with a kind label."""
    created = await client.post("/v1/modules", content=wasm("traps"), headers=WASM)
    url = f"/v1/modules/{created.json()['id']}/run"
    await client.post(url, json={"function": "unreachable"})
    await client.post(url, json={"function": "spin", "limits": {"timeout_ms": 20}})
    await client.post(
        url, json={"function": "grow", "args": [100], "limits": {"max_memory": 1 << 20}}
    )
    text = (await client.get("/metrics")).text
    for kind in ("unreachable", "timeout", "memory"):
        assert f'wess_sandbox_violations_total{{kind="{kind}"}} 1.0' in text


async def test_nodes_sharing_redis_share_the_rate_limit():
    """Two servers counting in the same Redis enforce one limit between them."""
    require_service("Redis", "127.0.0.1", 6379)
    url = "redis://127.0.0.1:6379/0"
    env = {"WESS_RATELIMIT_STORAGE": url, "WESS_RATELIMIT_PER_IP": "4/minute"}
    first_settings = test_settings(**env)
    second_settings = test_settings(**env)
    address = f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"  # fresh per run
    async with (
        open_client(first_settings, client_ip=address) as first,
        open_client(second_settings, client_ip=address) as second,
    ):
        statuses = [(await first.get("/healthz")).status_code for _ in range(2)]
        statuses += [(await second.get("/healthz")).status_code for _ in range(2)]
        assert statuses == [200, 200, 200, 200]
        assert_problem(await second.get("/healthz"), 429, "rate_limited")
        assert_problem(await first.get("/healthz"), 429, "rate_limited")
