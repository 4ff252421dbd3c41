"""Which sites may talk to Wess: the ``Host`` a request names, the ``Origin`` of the page
that sent it, and the CORS answers to the origins that are allowed.

Two attacks come from a web page the user happens to visit, and both reach a server
on 127.0.0.1 even with authentication off:

- **Cross-site requests.** The page posts to ``http://127.0.0.1:8080/`` with
  ``Content-Type: text/plain``, which browsers send without asking first (no
  preflight): the module is created before anyone reads the answer. Browsers name the
  page in ``Origin``; a request whose ``Origin`` is neither the server's own nor one
  of ``server.cors_origins`` is refused (403 ``origin_not_allowed``) before it reaches
  a route.
- **DNS rebinding.** The page's own name is made to resolve to 127.0.0.1: its requests
  are then same-origin for the browser, which lets it read the answers, but they
  carry ``Host: attacker.example``. A ``Host`` this server does not serve is refused
  (421 ``host_not_allowed``: the request went to a server that does not speak for
  that name, RFC 9110 §15.5.20; it is not malformed, so not 400).

Requests without ``Origin`` (curl, the CLI, SDKs, the original clients) are not sent
by a web page and pass the origin check; every request, with or without it, passes
the ``Host`` check first. The check is one pass over the headers, before routing, so
the run routes (which skip FastAPI's routing) are covered too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wess.api.answers import error_response
from wess.errors import MisdirectedRequest, OriginNotAllowed, WessError
from wess.observability.metrics import Metrics

logger = structlog.get_logger("wess.security")

ANY_HOST = "*"
"""``server.allowed_hosts`` entry that admits every ``Host`` (behind a proxy that checks it)."""
DEFAULT_PORTS = {"http": 80, "https": 443}
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
"""The names a loopback bind answers to besides its own address."""
WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "[::]"})  # noqa: S104 - recognised, not bound
CORS_METHODS = b"GET, POST, PUT, DELETE"
CORS_HEADERS = b"authorization, content-type, if-match, request-timeout-ms, x-request-id"
CORS_EXPOSED = (
    b"etag, location, retry-after, www-authenticate, x-request-id, "
    b"ratelimit-limit, ratelimit-remaining, ratelimit-reset"
)
PREFLIGHT_MAX_AGE = b"600"
SHOWN = 100
"""Characters of a refused Host or Origin that reach the log (the client chose them)."""


@dataclass(frozen=True, slots=True)
class SitePolicy:
    """The ``Host`` values this server answers to and the foreign origins it trusts.

    ``hosts`` holds exact ``Host`` values (``name:port``, and ``name`` alone when the
    port is the scheme's default), ``names`` the names allowed on any port; both are
    lowercase bytes, compared with the header as it arrives.
    """

    hosts: frozenset[bytes]
    names: frozenset[bytes]
    any_host: bool
    origins: frozenset[bytes]

    @classmethod
    def for_address(
        cls,
        host: str,
        port: int,
        *,
        loopback: bool,
        scheme: str = "http",
        allowed_hosts: Iterable[str] = (),
        cors_origins: Iterable[str] = (),
    ) -> SitePolicy:
        """The policy of a server bound to ``host:port`` (``loopback``: a loopback
        address): its own address (with the loopback names for a loopback bind, which a
        wildcard bind includes) and the configured ``allowed_hosts``. A wildcard bind
        with nothing configured has no name to compare with, so it answers to any (it
        also requires authentication).
        """
        configured = [entry.strip().lower() for entry in allowed_hosts if entry.strip()]
        bind = host.strip().lower()
        wildcard = bind in WILDCARD_BINDS
        any_host = ANY_HOST in configured or (wildcard and not configured)
        default = DEFAULT_PORTS.get(scheme)
        hosts: set[bytes] = set()
        names: set[bytes] = set()
        own = [] if wildcard else [_bracketed(bind)]
        if wildcard or loopback:
            own += LOOPBACK_HOSTS
        for name in own:
            hosts.update(_with_port(name, port, default))
        for entry in configured:
            if entry == ANY_HOST:
                continue
            raw_name, entry_port = split_host(entry.encode())
            entry_name = _bracketed(raw_name.decode())
            if entry_port is None:
                names.add(entry_name.encode())
            else:
                hosts.update(_with_port(entry_name, int(entry_port), default))
        return cls(
            hosts=frozenset(hosts),
            names=frozenset(names),
            any_host=any_host,
            origins=frozenset(normal_origin(origin).encode() for origin in cors_origins),
        )

    def host_allowed(self, value: bytes) -> bool:
        if self.any_host or value in self.hosts:
            return True
        lowered = value.lower()
        return lowered in self.hosts or (bool(self.names) and split_host(lowered)[0] in self.names)

    def origin_allowed(self, origin: bytes, *, scheme: str, host: bytes | None) -> bool:
        """Same-origin (the server's own ``scheme://host``), or one of ``origins``."""
        return self.cross_origin_allowed(origin) or (
            host is not None and same_origin(origin.lower(), scheme, host.lower())
        )

    def cross_origin_allowed(self, origin: bytes) -> bool:
        return origin in self.origins or origin.lower() in self.origins


class SiteCheck:
    """Refuses requests for a foreign ``Host`` (421) or from a foreign ``Origin`` (403),
    answers CORS preflights of allowed origins, and marks answers to them with
    ``Access-Control-Allow-Origin``. Plain ASGI: a request without ``Origin`` costs one
    pass over its headers."""

    def __init__(self, app: ASGIApp, *, policy: SitePolicy, metrics: Metrics) -> None:
        self.app = app
        self.policy = policy
        self.metrics = metrics
        self._hosts = None if policy.any_host else policy.hosts
        """The exact Host values, checked inline (None: any host)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hosts = self._hosts
        host: bytes | None = None
        origin: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"host":
                if hosts is not None and value not in hosts and not self.policy.host_allowed(value):
                    await self._refuse(scope, receive, send, _wrong_host(value), host=value)
                    return
                host = value
            elif name == b"origin":
                origin = value
        if origin is None:
            await self.app(scope, receive, send)
            return
        if not self.policy.origin_allowed(origin, scheme=scope["scheme"], host=host):
            await self._refuse(
                scope, receive, send, _wrong_origin(origin), host=host, origin=origin
            )
            return
        if scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-method"):
            await _preflight(origin, send)
            return
        if not self.policy.cross_origin_allowed(origin):  # same-origin: no CORS headers
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *_cors_headers(origin)]
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        error: WessError,
        *,
        host: bytes | None = None,
        origin: bytes | None = None,
    ) -> None:
        client = scope.get("client")
        logger.warning(
            "cross-site request refused",
            code=error.code,
            host=_shown(host),
            origin=_shown(origin),
            client_ip=client[0] if client else None,
            path=scope.get("path", "")[:SHOWN],
        )
        response = error_response(scope, error, self.metrics)
        await response(scope, receive, send)


def split_host(value: bytes) -> tuple[bytes, bytes | None]:
    """``(name, port)`` of a ``Host`` value; ``port`` is None when it has none.
    IPv6 names keep their brackets: ``[::1]:8080`` -> ``([::1], 8080)``."""
    if value.startswith(b"["):
        end = value.find(b"]")
        if end != -1 and value[end + 1 : end + 2] == b":":
            return value[: end + 1], value[end + 2 :]
        return value, None
    name, colon, port = value.rpartition(b":")
    return (name, port) if colon and b":" not in name else (value, None)


def normal_origin(origin: str) -> str:
    """An origin as browsers send it: lowercase, no trailing slash, no default port."""
    text = origin.strip().lower().rstrip("/")
    scheme, _, rest = text.partition("://")
    name, port = split_host(rest.encode())
    if port is not None and port.decode() == str(DEFAULT_PORTS.get(scheme)):
        return f"{scheme}://{name.decode()}"
    return text


def same_origin(origin: bytes, scheme: str, host: bytes) -> bool:
    """Whether ``origin`` is ``scheme://host`` (a default port written or not)."""
    prefix = scheme.encode() + b"://"
    if not origin.startswith(prefix):
        return False
    rest = origin[len(prefix) :]
    if rest == host:
        return True
    name, port = split_host(host)
    return port is not None and port == str(DEFAULT_PORTS.get(scheme)).encode() and rest == name


def _bracketed(name: str) -> str:
    """IPv6 addresses as a ``Host`` header writes them: ``[::1]``."""
    if ":" in name and not name.startswith("["):
        return f"[{name}]"
    return name


def _with_port(name: str, port: int, default: int | None) -> list[bytes]:
    forms = [f"{name}:{port}".encode()]
    if port == default:
        forms.append(name.encode())
    return forms


def _header(scope: Scope, wanted: bytes) -> bytes | None:
    for name, value in scope["headers"]:
        if name == wanted:
            return bytes(value)
    return None


def _cors_headers(origin: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"access-control-allow-origin", origin),
        (b"access-control-expose-headers", CORS_EXPOSED),
        (b"vary", b"origin"),
    ]


async def _preflight(origin: bytes, send: Send) -> None:
    """The answer to a CORS preflight of an allowed origin: what it may send, for how long."""
    headers = [
        (b"access-control-allow-origin", origin),
        (b"access-control-allow-methods", CORS_METHODS),
        (b"access-control-allow-headers", CORS_HEADERS),
        (b"access-control-max-age", PREFLIGHT_MAX_AGE),
        (b"vary", b"origin"),
    ]
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def _wrong_host(value: bytes) -> MisdirectedRequest:
    return MisdirectedRequest(
        f"this server does not answer to the host {_shown(value)!r}; "
        "the names it answers to are set by server.allowed_hosts"
    )


def _wrong_origin(value: bytes) -> OriginNotAllowed:
    return OriginNotAllowed(
        f"requests from pages of {_shown(value)!r} are not allowed; "
        "server.cors_origins lists the origins that may call this server"
    )


def _shown(value: bytes | None) -> str | None:
    if value is None:
        return None
    text = value.decode("latin-1")
    return text if len(text) <= SHOWN else text[:SHOWN] + "…"
