"""``wess.client``: a typed HTTP client of a Wess server, for programs and the CLI alike.

    from wess.client import Client

    with Client("http://127.0.0.1:8080", token=token) as wess:
        module = wess.deploy(Path("sum.wasm").read_bytes(), name="adder", function="sum")
        print(wess.run(module.id, "sum", [1, 2]).results)      # [3]

It raises, never exits: a refusal becomes the ``WessError`` subclass its problem's
``code`` names (``ModuleNotFound``, ``InvalidArguments``, ``Unauthenticated`` ...), with
the problem's members (``request_id``, ``status`` and the rest) in its ``context``; a
server that cannot be reached is ``ServerUnreachable``. ``wess`` (the CLI) is built on
it. Exports and imports stream: ``export`` yields the dump a chunk at a time, and
``import_dump`` sends chunks as they are produced.
"""

from __future__ import annotations

import base64
import inspect
import ssl
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from wess.errors import (
    InvalidRequest,
    KeyNotFound,
    ServerUnreachable,
    Trap,
    Unauthenticated,
    WessError,
)

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT = 60.0
PAGE = 1000
PROBLEM_MEMBERS = frozenset({"type", "title", "detail", "code", "instance"})


def error_classes() -> dict[str, type[WessError]]:
    """Every ``WessError`` subclass by its ``code``."""
    found: dict[str, type[WessError]] = {}
    pending: list[type[WessError]] = [WessError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.code, cls)
        pending += cls.__subclasses__()
    return found


ERRORS = error_classes()


def error_from(status: int, document: Mapping[str, Any], headers: Mapping[str, str]) -> WessError:
    """The error a problem document (RFC 9457, with Wess's ``code``) stands for."""
    code = str(document.get("code", ""))
    detail = str(document.get("detail") or document.get("message") or f"HTTP {status}")
    context = {k: v for k, v in document.items() if k not in PROBLEM_MEMBERS}
    context["status"] = status
    cls = ERRORS.get(code, WessError)
    retry = headers.get("retry-after", "")
    retry_after = int(retry) if retry.isdigit() else 1
    if cls is Unauthenticated:
        return Unauthenticated(detail, reason="refused by the server")
    if cls is Trap:
        context.pop("kind", None)
        return Trap(detail, kind=str(document.get("kind", "unknown")), **context)
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if parameter.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        if name == "retry_after":
            context[name] = retry_after
        elif name not in context and parameter.default is inspect.Parameter.empty:
            context[name] = str(document.get(name, "unknown"))
    return cls(detail, **context)


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    params: tuple[str, ...]
    results: tuple[str, ...]
    wit: str | None = None
    """A component's function: its WIT type."""

    def describe(self) -> str:
        if self.wit is not None:
            return f"{self.name}: {self.wit}"
        return f"{self.name}({', '.join(self.params)}) -> ({', '.join(self.results)})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Module:
    """A module as the server describes it; ``functions`` is None in a listing."""

    id: str
    name: str
    namespace: str
    digest: str
    size: int
    revision: int
    created_at: str
    updated_at: str
    default_function: str | None
    function_count: int
    functions: tuple[Function, ...] | None = None

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Module:
        functions = document.get("functions")
        return cls(
            id=document["id"],
            name=document["name"],
            namespace=document["namespace"],
            digest=document["digest"],
            size=document["size"],
            revision=document["revision"],
            created_at=document["created_at"],
            updated_at=document["updated_at"],
            default_function=document["default_function"],
            function_count=document["function_count"],
            functions=None
            if functions is None
            else tuple(
                Function(f["name"], tuple(f["params"]), tuple(f["results"]), f.get("wit"))
                for f in functions
            ),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """A run's answer: a function's ``results``, or a command's output (``exit_code``
    set; ``stdout``/``stderr`` decoded, replacing what is not UTF-8). ``logs`` holds
    the call's log lines when they were asked for."""

    results: list[Any]
    function: str
    duration_us: int
    fuel_used: int | None = None
    stdout: str = ""
    stderr: str = ""
    output_truncated: bool = False
    exit_code: int | None = None
    logs: list[dict[str, str]] = field(default_factory=list)
    logs_dropped: int = 0

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> RunResult:
        truncated = document.get("truncated")
        cut = any(truncated.values()) if isinstance(truncated, Mapping) else False
        return cls(
            results=list(document.get("results", [])),
            function=document["function"],
            duration_us=document["duration_us"],
            fuel_used=document.get("fuel_used"),
            stdout=_text(document, "stdout"),
            stderr=_text(document, "stderr"),
            output_truncated=cut or bool(document.get("output_truncated", False)),
            exit_code=document.get("exit_code"),
            logs=list(document.get("logs", [])),
            logs_dropped=int(document.get("logs_dropped", 0)),
        )


def _text(document: Mapping[str, Any], name: str) -> str:
    """A stream of a run's answer as text, whether it came as text or as base64."""
    if name in document:
        return str(document[name])
    encoded = document.get(f"{name}_base64")
    if encoded is None:
        return ""
    return base64.b64decode(encoded).decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyInfo:
    """An API key as listed: never its token."""

    id: str
    namespace: str
    role: str
    name: str
    created_at: str
    expires_at: str | None
    last_used_at: str | None
    token: str | None = None
    """Set once, in the answer to the key's creation."""

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> KeyInfo:
        return cls(
            id=document["id"],
            namespace=document["namespace"],
            role=document["role"],
            name=document["name"],
            created_at=document["created_at"],
            expires_at=document.get("expires_at"),
            last_used_at=document.get("last_used_at"),
            token=document.get("token"),
        )


def unique_match(prefix: str, ids: Iterable[str], *, what: str) -> str:
    """The one id that starts with ``prefix`` (as git takes a commit's prefix);
    ``KeyNotFound`` for none, ``InvalidRequest`` naming the candidates for several."""
    matches = sorted(ident for ident in ids if ident.startswith(prefix))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise KeyNotFound(f"no {what} {prefix!r}", key_id=prefix)
    shown = ", ".join(matches[:5]) + (" ..." if len(matches) > 5 else "")
    raise InvalidRequest(f"{prefix!r} names {len(matches)} {what}s ({shown}): give more of it")


class Client:
    """A Wess server at ``url``, called with ``token`` (an API key or a JWT; None: no
    credentials). ``ca_file`` verifies an HTTPS server; ``transport`` replaces the
    network (an ``httpx.MockTransport`` in tests)."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        ca_file: Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        verify: bool | ssl.SSLContext = (
            ssl.create_default_context(cafile=str(ca_file)) if ca_file is not None else True
        )
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, verify=verify, transport=transport
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- modules ------------------------------------------------------------------------

    def deploy(
        self,
        wasm: bytes,
        *,
        name: str | None = None,
        function: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> Module:
        """Upload a module or component; the new module as stored (revision 1).
        ``timeout`` (None: none) bounds the upload with its compile."""
        params = {k: v for k, v in (("name", name), ("function", function)) if v}
        document = self.call(
            "POST", "/v1/modules", content=wasm, params=params, headers=_WASM, timeout=timeout
        ).json()
        return Module.from_document(document)

    def get(self, module_id: str) -> Module:
        return Module.from_document(self.call("GET", f"/v1/modules/{module_id}").json())

    def update(
        self,
        module_id: str,
        wasm: bytes,
        *,
        name: str | None = None,
        function: str | None = None,
        if_match: str | None = None,
    ) -> Module:
        """Replace a module's bytes (revision + 1); ``if_match`` is the digest it must
        still have (``PreconditionFailed`` otherwise)."""
        headers = dict(_WASM)
        if if_match is not None:
            headers["if-match"] = f'"{if_match}"'
        params = {k: v for k, v in (("name", name), ("function", function)) if v}
        response = self.call(
            "PUT", f"/v1/modules/{module_id}", content=wasm, params=params, headers=headers
        )
        return Module.from_document(response.json())

    def delete(self, module_id: str, *, if_match: str | None = None) -> None:
        headers = {"if-match": f'"{if_match}"'} if if_match is not None else {}
        self.call("DELETE", f"/v1/modules/{module_id}", headers=headers)

    def modules(self, *, page_size: int = PAGE) -> Iterator[Module]:
        """Every module the key may read (an admin's: every namespace), page by page."""
        cursor: str | None = None
        while True:
            params = {"limit": str(page_size), **({"cursor": cursor} if cursor else {})}
            page = self.call("GET", "/v1/modules", params=params).json()
            yield from (Module.from_document(item) for item in page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                return

    def download(self, module_id: str) -> bytes:
        return self.call("GET", f"/v1/modules/{module_id}/wasm").content

    def run(
        self,
        module_id: str,
        function: str | None = None,
        args: Sequence[Any] = (),
        *,
        timeout_ms: int | None = None,
        fuel: int | None = None,
        max_memory: int | None = None,
        logs: bool = False,
    ) -> RunResult:
        """Run ``function`` (None: the module's default) with ``args``; the limits given
        lower the server's for this call; ``logs`` asks for its log lines."""
        body: dict[str, Any] = {"args": list(args)}
        if function is not None:
            body["function"] = function
        limits = _limits(timeout_ms=timeout_ms, fuel=fuel, max_memory=max_memory)
        if limits:
            body["limits"] = limits
        if logs:
            body["logs"] = True
        response = self.call("POST", f"/v1/modules/{module_id}/run", json=body)
        return RunResult.from_document(response.json())

    def run_command(
        self,
        module_id: str,
        stdin: bytes = b"",
        *,
        argv: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        timeout_ms: int | None = None,
        fuel: int | None = None,
        max_memory: int | None = None,
        logs: bool = False,
    ) -> RunResult:
        """Run a WASI command with ``stdin``, ``argv`` and ``env`` (names the server's
        ``commands.env_allowed`` allows); its ``exit_code`` and output come back."""
        body: dict[str, Any] = {"stdin_base64": base64.b64encode(stdin).decode("ascii")}
        if argv is not None:
            body["argv"] = list(argv)
        if env:
            body["env"] = dict(env)
        limits = _limits(timeout_ms=timeout_ms, fuel=fuel, max_memory=max_memory)
        if limits:
            body["limits"] = limits
        if logs:
            body["logs"] = True
        response = self.call("POST", f"/v1/modules/{module_id}/run", json=body)
        return RunResult.from_document(response.json())

    # -- keys and the audit log -----------------------------------------------------------

    def create_key(
        self, *, namespace: str, role: str, name: str = "", expires_at: str | None = None
    ) -> KeyInfo:
        """Mint a key; its ``token`` is in this answer only."""
        body = {"namespace": namespace, "role": role, "name": name, "expires_at": expires_at}
        return KeyInfo.from_document(self.call("POST", "/v1/keys", json=body).json())

    def keys(self) -> list[KeyInfo]:
        return [
            KeyInfo.from_document(item) for item in self.call("GET", "/v1/keys").json()["items"]
        ]

    def key_id(self, prefix: str) -> str:
        """The id of the one key whose id starts with ``prefix`` (``api_key:`` allowed)."""
        prefix = prefix.removeprefix("api_key:")
        return unique_match(prefix, (key.id for key in self.keys()), what="API key")

    def revoke_key(self, key_id: str) -> None:
        self.call("DELETE", f"/v1/keys/{key_id}")

    def rotate_kek(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", "/v1/admin/rotate-kek").json()
        return result

    def audit(self, *, after: int = 0, limit: int = 100, **match: str) -> dict[str, Any]:
        """One page of the audit log (``match``: actor, action, namespace, outcome)."""
        params = {"after": str(after), "limit": str(limit), **match}
        page: dict[str, Any] = self.call("GET", "/v1/audit", params=params).json()
        return page

    def verify_audit(self) -> dict[str, Any]:
        report: dict[str, Any] = self.call("GET", "/v1/audit/verify").json()
        return report

    # -- the store as a whole -------------------------------------------------------------

    def verify_store(self) -> dict[str, Any]:
        report: dict[str, Any] = self.call("GET", "/v1/admin/verify", timeout=None).json()
        return report

    def export(self, *, namespace: str | None = None, since: str | None = None) -> Iterator[bytes]:
        """The store's dump (wess-export/1), chunk by chunk as the server streams it."""
        params = {k: v for k, v in (("namespace", namespace), ("since", since)) if v}
        request = self._http.build_request("GET", "/v1/admin/export", params=params)
        try:
            response = self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        try:
            if response.status_code >= 400:
                response.read()
                self._check(response)
            yield from response.iter_bytes()
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        finally:
            response.close()

    def import_dump(
        self,
        chunks: Iterable[bytes],
        *,
        namespaces: Mapping[str, str] | None = None,
        rechain_audit: bool = False,
    ) -> dict[str, Any]:
        """Send a dump (chunks as they come) to be imported; the server's report."""
        params: list[tuple[str, str]] = [
            ("map", f"{source}={target}") for source, target in (namespaces or {}).items()
        ]
        if rechain_audit:
            params.append(("rechain_audit", "true"))
        response = self.call(
            "POST",
            "/v1/admin/import",
            content=iter(chunks),
            params=params,
            headers={"content-type": "application/x-ndjson"},
            timeout=None,
        )
        report: dict[str, Any] = response.json()
        return report

    def create_backup(self) -> dict[str, Any]:
        manifest: dict[str, Any] = self.call("POST", "/v1/admin/backups", timeout=None).json()
        return manifest

    def backups(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.call("GET", "/v1/admin/backups").json()["items"]
        return items

    # -- the wire -------------------------------------------------------------------------

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; the response if it succeeded, else the error it stands for."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        self._check(response)
        return response

    def _check(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        try:
            document = response.json()
        except ValueError:
            document = {"detail": response.text.strip() or response.reason_phrase}
        if not isinstance(document, dict):
            document = {"detail": str(document)}
        raise error_from(response.status_code, document, response.headers)

    def _unreachable(self, exc: httpx.HTTPError) -> ServerUnreachable:
        return ServerUnreachable(f"cannot reach Wess at {self.url}: {exc}", url=self.url)


_WASM = {"content-type": "application/wasm"}


def _limits(**asked: int | None) -> dict[str, int]:
    return {name: value for name, value in asked.items() if value is not None}
