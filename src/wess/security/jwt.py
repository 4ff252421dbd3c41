"""JWT bearer tokens from an outside identity provider, verified with PyJWT.

A token authenticates when its algorithm is one of the configured ones (``none``
never is), its signature verifies with a configured key of that algorithm's family,
it has not expired, and its ``iss``, ``aud``, ``sub``, namespace and role claims are
as required. Keys are held per algorithm: an HS256 token is only ever checked against
the configured HS256 secret, so a token "signed" with the RSA public key as an HMAC
secret (the classic key confusion) cannot verify.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from wess.errors import ConfigError
from wess.models import Role, is_namespace_name
from wess.security.failures import AuthFailure, refuse
from wess.security.rbac import AuthMethod, Principal

if TYPE_CHECKING:
    import jwt

SUPPORTED_ALGORITHMS = ("RS256", "ES256", "HS256")
MIN_HMAC_SECRET = 32
MIN_RSA_BITS = 2048
REQUIRED_CLAIMS = ("exp", "iss", "aud", "sub")
ROLES = frozenset(role.value for role in Role)
SUBJECT_MAX = 256
"""Longest accepted ``sub``: identity providers' subjects are ids, not documents."""


@cache
def _failures() -> tuple[tuple[type[jwt.PyJWTError], AuthFailure], ...]:
    """Which PyJWT error means which refusal. PyJWT is imported on first use (~0.3 s at
    start-up otherwise, for servers that take no JWT)."""
    import jwt

    return (
        (jwt.ExpiredSignatureError, AuthFailure.EXPIRED),
        (jwt.ImmatureSignatureError, AuthFailure.NOT_YET_VALID),
        (jwt.InvalidIssuerError, AuthFailure.WRONG_ISSUER),
        (jwt.InvalidAudienceError, AuthFailure.WRONG_AUDIENCE),
        (jwt.MissingRequiredClaimError, AuthFailure.MISSING_CLAIM),
        (jwt.InvalidAlgorithmError, AuthFailure.ALGORITHM_NOT_ALLOWED),
        (jwt.InvalidSignatureError, AuthFailure.BAD_SIGNATURE),
        (jwt.InvalidKeyError, AuthFailure.BAD_SIGNATURE),
        (jwt.InvalidIssuedAtError, AuthFailure.INVALID_CLAIM),
        (jwt.exceptions.InvalidSubjectError, AuthFailure.INVALID_CLAIM),
        (jwt.exceptions.InvalidJTIError, AuthFailure.INVALID_CLAIM),
    )


"""PyJWT's errors, most specific first; anything else is ``MALFORMED``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JwtSettings:
    """What a JWT must look like; key material comes from the files named here."""

    issuer: str
    audience: str
    algorithms: tuple[str, ...] = ("RS256",)
    public_key_file: Path | None = None
    """A PEM public key (RSA for RS256, P-256 for ES256)."""
    jwks_file: Path | None = None
    """A JSON Web Key Set; keys are chosen by the token's ``kid``."""
    hs256_secret: bytes | None = field(default=None, repr=False)
    namespace_claim: str = "wess_ns"
    role_claim: str = "wess_role"
    leeway: float = 30.0
    """Seconds of clock skew tolerated on ``exp``, ``nbf`` and ``iat``."""

    def __post_init__(self) -> None:
        if not self.issuer or not self.audience:
            raise ConfigError("jwt: issuer and audience are required")
        unknown = sorted(set(self.algorithms) - set(SUPPORTED_ALGORITHMS))
        if unknown or not self.algorithms:
            raise ConfigError(
                f"jwt.algorithms: {unknown or 'empty'}; allowed: {', '.join(SUPPORTED_ALGORITHMS)}"
            )


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """One key that may verify tokens signed with ``algorithm``."""

    algorithm: str
    key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | bytes = field(repr=False)
    kid: str | None = None

    def __post_init__(self) -> None:
        _check_key(self)


class JwtVerifier:
    """Turns a bearer JWT into a ``Principal``; pure once its keys are loaded."""

    def __init__(self, settings: JwtSettings, keys: Iterable[VerificationKey]) -> None:
        self._settings = settings
        self._keys: dict[str, list[VerificationKey]] = {}
        for key in keys:
            if key.algorithm in settings.algorithms:
                self._keys.setdefault(key.algorithm, []).append(key)
        missing = [alg for alg in settings.algorithms if alg not in self._keys]
        if missing:
            raise ConfigError(f"jwt: no key configured for {', '.join(missing)}")

    @classmethod
    def from_settings(cls, settings: JwtSettings) -> JwtVerifier:
        """Read the key files named in ``settings`` (at start-up)."""
        return cls(settings, load_keys(settings))

    def verify(self, token: str) -> Principal:
        """The principal ``token`` speaks for; ``Unauthenticated`` with a reason if none."""
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise refuse(AuthFailure.MALFORMED) from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in self._settings.algorithms:
            raise refuse(AuthFailure.ALGORITHM_NOT_ALLOWED)
        candidates = [k for k in self._keys[algorithm] if kid is None or k.kid in (kid, None)]
        if not candidates:
            raise refuse(AuthFailure.UNKNOWN_KEY, subject=str(kid))
        for candidate in candidates:
            try:
                claims = self._decode(token, candidate)
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as exc:
                raise refuse(_reason(exc)) from None
            return self._principal(claims)
        raise refuse(AuthFailure.BAD_SIGNATURE)

    def _decode(self, token: str, key: VerificationKey) -> dict[str, Any]:
        import jwt

        settings = self._settings
        return jwt.decode(
            token,
            key.key,
            algorithms=[key.algorithm],
            audience=settings.audience,
            issuer=settings.issuer,
            leeway=settings.leeway,
            options={"require": list(REQUIRED_CLAIMS)},
        )

    def _principal(self, claims: dict[str, Any]) -> Principal:
        """The principal the claims name, each claim Wess uses checked: the namespace by
        the rule of every namespace, the role among the roles, ``sub`` (which reaches
        logs and the audit log) bounded and printable."""
        names = (self._settings.namespace_claim, self._settings.role_claim)
        if any(name not in claims for name in names):
            raise refuse(AuthFailure.MISSING_CLAIM)
        namespace, role = claims[names[0]], claims[names[1]]
        subject = claims["sub"]
        if not is_namespace_name(namespace) or not is_subject(subject):
            raise refuse(AuthFailure.INVALID_CLAIM)
        if not isinstance(role, str) or role not in ROLES:
            raise refuse(AuthFailure.INVALID_CLAIM)
        return Principal(
            subject=subject, namespace=namespace, role=Role(role), method=AuthMethod.JWT
        )


def is_subject(subject: object) -> bool:
    """A usable ``sub``: 1 to ``SUBJECT_MAX`` printable characters."""
    return isinstance(subject, str) and 0 < len(subject) <= SUBJECT_MAX and subject.isprintable()


def load_keys(settings: JwtSettings) -> tuple[VerificationKey, ...]:
    """Every key the settings name, each tagged with the one algorithm it may verify."""
    keys: list[VerificationKey] = []
    if settings.hs256_secret is not None:
        keys.append(VerificationKey("HS256", settings.hs256_secret))
    if settings.public_key_file is not None:
        keys.append(_pem_key(settings.public_key_file))
    if settings.jwks_file is not None:
        keys.extend(_jwks_keys(settings.jwks_file, settings.algorithms))
    return tuple(keys)


def _pem_key(path: Path) -> VerificationKey:
    try:
        key = load_pem_public_key(_read(path))
    except ValueError as exc:
        raise ConfigError(f"jwt.public_key_file {path}: not a PEM public key ({exc})") from None
    if isinstance(key, rsa.RSAPublicKey):
        return VerificationKey("RS256", key)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return VerificationKey("ES256", key)
    raise ConfigError(f"jwt.public_key_file {path}: only RSA and P-256 keys are supported")


def _jwks_keys(path: Path, algorithms: tuple[str, ...]) -> list[VerificationKey]:
    import jwt

    try:
        keyset = jwt.PyJWKSet.from_json(_read(path).decode())
    except (ValueError, jwt.PyJWTError) as exc:
        raise ConfigError(f"jwt.jwks_file {path}: not a usable JWK set ({exc})") from None
    # An HMAC ("oct") key in a published key set would be a shared secret made public.
    return [
        VerificationKey(jwk.algorithm_name, jwk.key, jwk.key_id)
        for jwk in keyset.keys
        if jwk.algorithm_name in algorithms and jwk.key_type != "oct"
    ]


def _check_key(key: VerificationKey) -> None:
    match key.algorithm, key.key:
        case "RS256", rsa.RSAPublicKey() as public if public.key_size >= MIN_RSA_BITS:
            return
        case "ES256", ec.EllipticCurvePublicKey() as public if public.curve.name == "secp256r1":
            return
        case "HS256", bytes() as secret if len(secret) >= MIN_HMAC_SECRET:
            # A PEM block as an HMAC secret is the key-confusion mistake itself.
            if not secret.lstrip().startswith((b"-----BEGIN", b"ssh-", b"{")):
                return
    raise ConfigError(
        f"jwt: unusable {key.algorithm} key (RS256 needs RSA >= {MIN_RSA_BITS} bits, ES256 a "
        f"P-256 key, HS256 a secret of >= {MIN_HMAC_SECRET} bytes that is not a public key)"
    )


def _reason(exc: jwt.PyJWTError) -> AuthFailure:
    for kind, reason in _failures():
        if isinstance(exc, kind):
            return reason
    return AuthFailure.MALFORMED


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"jwt: cannot read {path}: {exc.strerror}") from None
