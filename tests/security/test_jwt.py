"""JWT bearer tokens: what verifies, and every way a token is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from wess.errors import ConfigError, Unauthenticated
from wess.models import Role
from wess.security.failures import AuthFailure
from wess.security.jwt import JwtSettings, JwtVerifier, VerificationKey
from wess.security.rbac import AuthMethod

ISSUER, AUDIENCE = "https://idp.example", "wess"
HS_SECRET = b"h" * 32


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def pem(private_key) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def claims(**overrides):
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "iat": now,
        "exp": now + 300,
        "wess_ns": "team-a",
        "wess_role": "developer",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def forge(header: dict, payload: dict, key: bytes | None) -> str:
    """A token built by hand (PyJWT refuses to sign these): HMAC with any key, or unsigned."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = b"" if key is None else hmac.digest(key, signing_input.encode(), hashlib.sha256)
    return f"{signing_input}.{b64(signature)}"


def reason_of(verifier: JwtVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(token)
    assert str(caught.value) == "missing or invalid credentials"
    assert caught.value.context == {}  # context reaches response bodies; reasons must not
    return caught.value.reason


@pytest.fixture
def rs_verifier(rsa_key):
    settings = JwtSettings(issuer=ISSUER, audience=AUDIENCE, algorithms=("RS256",))
    return JwtVerifier(settings, [VerificationKey("RS256", rsa_key.public_key())])


def test_a_good_rs256_token_yields_its_principal(rs_verifier, rsa_key):
    """A valid RS256 token maps sub, namespace and role claims to a JWT principal."""
    principal = rs_verifier.verify(pyjwt.encode(claims(), rsa_key, algorithm="RS256"))
    assert principal.subject == "alice"
    assert (principal.namespace, principal.role) == ("team-a", Role.DEVELOPER)
    assert principal.method is AuthMethod.JWT


def test_es256_and_hs256_verify_with_their_own_keys(ec_key):
    """ES256 (P-256) and HS256 tokens verify when those algorithms and keys are configured."""
    settings = JwtSettings(
        issuer=ISSUER, audience=AUDIENCE, algorithms=("ES256", "HS256"), hs256_secret=HS_SECRET
    )
    verifier = JwtVerifier(
        settings,
        [VerificationKey("ES256", ec_key.public_key()), VerificationKey("HS256", HS_SECRET)],
    )
    assert verifier.verify(pyjwt.encode(claims(), ec_key, algorithm="ES256")).subject == "alice"
    assert verifier.verify(pyjwt.encode(claims(), HS_SECRET, algorithm="HS256")).subject == "alice"


def test_keys_load_from_a_pem_file_and_a_jwks_file(tmp_path, rsa_key, ec_key):
    """from_settings reads a PEM public key and a JWK set; the token's kid picks the JWK."""
    (tmp_path / "rsa.pem").write_bytes(pem(rsa_key))
    jwk = json.loads(pyjwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    (tmp_path / "keys.json").write_text(json.dumps({"keys": [{**jwk, "kid": "ec-1"}]}))
    settings = JwtSettings(
        issuer=ISSUER,
        audience=AUDIENCE,
        algorithms=("RS256", "ES256"),
        public_key_file=tmp_path / "rsa.pem",
        jwks_file=tmp_path / "keys.json",
    )
    verifier = JwtVerifier.from_settings(settings)
    assert verifier.verify(pyjwt.encode(claims(), rsa_key, algorithm="RS256"))
    es = pyjwt.encode(claims(), ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    assert verifier.verify(es).namespace == "team-a"
    other = pyjwt.encode(claims(), ec_key, algorithm="ES256", headers={"kid": "ec-2"})
    assert reason_of(verifier, other) == AuthFailure.UNKNOWN_KEY


def test_alg_none_is_refused(rs_verifier):
    """An unsigned token (alg none, in any spelling) is refused."""
    for alg in ("none", "None", "NONE"):
        token = forge({"alg": alg, "typ": "JWT"}, claims(), None)
        assert reason_of(rs_verifier, token) == AuthFailure.ALGORITHM_NOT_ALLOWED


def test_hs256_signed_with_the_rsa_public_key_is_refused(rsa_key):
    """Key confusion: HS256 'signed' with the RSA public key as secret never verifies."""
    token = forge({"alg": "HS256", "typ": "JWT"}, claims(), pem(rsa_key))
    rs_only = JwtSettings(issuer=ISSUER, audience=AUDIENCE, algorithms=("RS256",))
    verifier = JwtVerifier(rs_only, [VerificationKey("RS256", rsa_key.public_key())])
    assert reason_of(verifier, token) == AuthFailure.ALGORITHM_NOT_ALLOWED
    both = JwtSettings(
        issuer=ISSUER, audience=AUDIENCE, algorithms=("RS256", "HS256"), hs256_secret=HS_SECRET
    )
    keys = [VerificationKey("RS256", rsa_key.public_key()), VerificationKey("HS256", HS_SECRET)]
    assert reason_of(JwtVerifier(both, keys), token) == AuthFailure.BAD_SIGNATURE


def test_a_public_key_cannot_be_configured_as_the_hs256_secret(rsa_key):
    """The confusion is refused at start-up too: a PEM block is not an HMAC secret."""
    with pytest.raises(ConfigError, match="HS256"):
        VerificationKey("HS256", pem(rsa_key))
    with pytest.raises(ConfigError, match="HS256"):
        VerificationKey("HS256", b"short")


def test_a_bad_signature_is_refused(rs_verifier):
    """A token signed by another RSA key fails as 'bad_signature'."""
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = pyjwt.encode(claims(), stranger, algorithm="RS256")
    assert reason_of(rs_verifier, token) == AuthFailure.BAD_SIGNATURE


def test_an_algorithm_outside_the_list_is_refused(rs_verifier, ec_key):
    """A correctly signed ES256 token is refused when only RS256 is allowed."""
    token = pyjwt.encode(claims(), ec_key, algorithm="ES256")
    assert reason_of(rs_verifier, token) == AuthFailure.ALGORITHM_NOT_ALLOWED


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": int(time.time()) - 3600}, AuthFailure.EXPIRED),
        ({"nbf": int(time.time()) + 3600}, AuthFailure.NOT_YET_VALID),
        ({"iss": "https://evil.example"}, AuthFailure.WRONG_ISSUER),
        ({"aud": "someone-else"}, AuthFailure.WRONG_AUDIENCE),
        ({"exp": None}, AuthFailure.MISSING_CLAIM),
        ({"sub": None}, AuthFailure.MISSING_CLAIM),
        ({"iss": None}, AuthFailure.MISSING_CLAIM),
        ({"aud": None}, AuthFailure.MISSING_CLAIM),
        ({"wess_ns": None}, AuthFailure.MISSING_CLAIM),
        ({"wess_role": None}, AuthFailure.MISSING_CLAIM),
        ({"wess_role": "root"}, AuthFailure.INVALID_CLAIM),
        ({"wess_role": ["admin"]}, AuthFailure.INVALID_CLAIM),
        ({"wess_ns": ""}, AuthFailure.INVALID_CLAIM),
        ({"sub": 42}, AuthFailure.INVALID_CLAIM),
    ],
)
def test_claim_failures_each_have_their_reason(rs_verifier, rsa_key, overrides, reason):
    """Expired, premature, wrong iss/aud, missing or unusable claims: each its own reason."""
    token = pyjwt.encode(claims(**overrides), rsa_key, algorithm="RS256")
    assert reason_of(rs_verifier, token) == reason


def test_claim_names_are_configurable(rsa_key):
    """Namespace and role come from the claims the settings name."""
    settings = JwtSettings(
        issuer=ISSUER, audience=AUDIENCE, namespace_claim="tenant", role_claim="wess/role"
    )
    verifier = JwtVerifier(settings, [VerificationKey("RS256", rsa_key.public_key())])
    token = pyjwt.encode(
        claims(wess_ns=None, wess_role=None, tenant="t1", **{"wess/role": "viewer"}),
        rsa_key,
        algorithm="RS256",
    )
    principal = verifier.verify(token)
    assert (principal.namespace, principal.role) == ("t1", Role.VIEWER)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "Bearer x.y.z"])
def test_garbage_is_malformed(rs_verifier, token):
    """Strings that are not JWTs fail as 'malformed'."""
    assert reason_of(rs_verifier, token) == AuthFailure.MALFORMED


def test_settings_and_keys_are_validated_at_start_up(tmp_path, rsa_key):
    """Unknown algorithms, a missing key for an allowed one, unreadable files: ConfigError."""
    with pytest.raises(ConfigError, match="allowed"):
        JwtSettings(issuer=ISSUER, audience=AUDIENCE, algorithms=("none",))
    with pytest.raises(ConfigError, match="required"):
        JwtSettings(issuer="", audience=AUDIENCE)
    with pytest.raises(ConfigError, match="no key configured for HS256"):
        JwtVerifier.from_settings(
            JwtSettings(issuer=ISSUER, audience=AUDIENCE, algorithms=("HS256",))
        )
    missing = JwtSettings(issuer=ISSUER, audience=AUDIENCE, public_key_file=tmp_path / "nope.pem")
    with pytest.raises(ConfigError, match="cannot read"):
        JwtVerifier.from_settings(missing)
    (tmp_path / "junk.pem").write_text("not a key")
    junk = JwtSettings(issuer=ISSUER, audience=AUDIENCE, public_key_file=tmp_path / "junk.pem")
    with pytest.raises(ConfigError, match="not a PEM public key"):
        JwtVerifier.from_settings(junk)
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ConfigError, match="RS256"):
        VerificationKey("RS256", small.public_key())


@pytest.mark.parametrize(
    "overrides",
    [
        {"wess_ns": "a" * 65},
        {"wess_ns": "a" * 70_000},
        {"wess_ns": "team-a\r\nforged"},
        {"wess_ns": "team\x00a"},
        {"wess_ns": 7},
        {"sub": "s" * 257},
        {"sub": "alice\nforged"},
        {"sub": ""},
        {"wess_role": "Admin"},
    ],
    ids=lambda claims: ",".join(f"{k}:{len(str(v))}" for k, v in claims.items()),
)
def test_claims_past_the_namespace_rule_or_unbounded_are_invalid(rs_verifier, rsa_key, overrides):
    """A namespace is checked by the one namespace rule (1 to 64 printable characters),
    ``sub`` is 1 to 256 printable characters, the role one of the roles: anything else
    is an invalid claim, refused like any bad token."""
    token = pyjwt.encode(claims(**overrides), rsa_key, algorithm="RS256")
    assert reason_of(rs_verifier, token) == AuthFailure.INVALID_CLAIM


def test_claims_at_their_bounds_are_accepted(rs_verifier, rsa_key):
    """The longest namespace and subject, in any printable script, still verify."""
    token = pyjwt.encode(claims(wess_ns="é" * 64, sub="主" * 256), rsa_key, algorithm="RS256")
    principal = rs_verifier.verify(token)
    assert (principal.namespace, principal.subject) == ("é" * 64, "主" * 256)
