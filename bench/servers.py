"""Real server processes for the HTTP figures: ``wess serve`` and the floor app.

Both are started the way a person would start them (the floor, ``bench/floor_app.py``,
exactly as its docstring shows), on free loopback ports, each with its output in
a log file, and stopped with SIGTERM when the ``with`` block ends. Wess runs with its
default settings: every ``WESS_*`` variable of the caller's environment is dropped (so
nothing, e.g. a quieter log level, switches a production feature off). Only two kinds
of setting are passed: the rate limits, raised far above the bench's load (still
counted on every request, never refusing the bench's own), and what a figure asks
for explicitly (P5's long timeout).

When Wess writes ``<data dir>/admin.key`` at start-up (API keys), every request the
bench sends carries ``Authorization: Bearer <key>``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from figures import BENCH, EXAMPLES, say

BENCH_RATE = "1000000/second"
"""Rate limits for the bench: far above its load, so the limiter counts every request
(the feature stays on and is paid for) but refuses none of the bench's own."""
BIN = Path(sys.executable).parent
"""The project environment's scripts (``wess``, ``uvicorn``): figures run in it."""
FLOOR_PORT = 9901
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
ADMIN_KEY_FILE = "admin.key"


def free_port(preferred: int | None = None) -> int:
    """``preferred`` when nothing listens on it, else any free loopback port."""
    for candidate in ([preferred] if preferred else []) + [0]:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            port: int = probe.getsockname()[1]
            return port
    raise RuntimeError("no free port on 127.0.0.1")


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """One keep-alive HTTP/1.1 connection (one per thread); reconnects after an error."""

    def __init__(self, port: int, headers: Mapping[str, str] | None = None) -> None:
        self._port = port
        self._headers = dict(headers or {})
        self._connection: http.client.HTTPConnection | None = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 60.0,
    ) -> Response:
        sent = {**self._headers, **(headers or {})}
        for attempt in (1, 2):
            if self._connection is None:
                self._connection = http.client.HTTPConnection(
                    "127.0.0.1", self._port, timeout=timeout
                )
            try:
                self._connection.request(method, path, body=body, headers=sent)
                answer = self._connection.getresponse()
                payload = answer.read()
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
                continue
            return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, payload)
        raise AssertionError("unreachable")

    def post_json(self, path: str, document: Any, *, timeout: float = 60.0) -> Response:
        body = json.dumps(document).encode()
        return self.request(
            "POST", path, body, headers={"content-type": "application/json"}, timeout=timeout
        )

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


@dataclass
class Server:
    """A started server process: where it listens, its log, how to reach it."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    workdir: Path
    data_dir: Path | None = None
    auth_headers: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    flags: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    """What the bench had to do to this server that a reader should know."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, *, authorized: bool = True) -> Client:
        return Client(self.port, self.auth_headers if authorized else None)

    def rss_bytes(self) -> int:
        return _status_kib(self.process.pid, "VmRSS") * 1024

    def peak_rss_bytes(self) -> int:
        return _status_kib(self.process.pid, "VmHWM") * 1024

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def upload(self, wasm: bytes, *, name: str, function: str) -> str:
        """Store ``wasm`` through /v1; the new module's id."""
        answer = self.client().request(
            "POST",
            f"/v1/modules?name={name}&function={function}",
            wasm,
            headers={"content-type": "application/wasm"},
        )
        if answer.status != 201:
            raise RuntimeError(
                f"upload answered {answer.status}: {answer.body[:300]!r}\n"
                f"end of the server log:\n{self.log_tail()}"
            )
        module_id: str = answer.json()["id"]
        return module_id

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_text()[-chars:]


def _status_kib(pid: int, key: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    found = re.search(rf"^{key}:\s+(\d+)\s+kB", text, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"/proc/{pid}/status has no {key}")
    return int(found.group(1))


@contextlib.contextmanager
def floor_server() -> Iterator[Server]:
    """``uvicorn floor_app:app`` (``bench/floor_app.py``) with the flags its docstring
    gives, on 9901 if free."""
    port = free_port(FLOOR_PORT)
    command = [
        str(BIN / "uvicorn"),
        "floor_app:app",
        "--app-dir",
        str(BENCH),
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with _started("floor", command, port, env=_clean_env({})) as server:
        yield server


def rate_limit_env() -> dict[str, str]:
    """``WESS_RATELIMIT_*`` at ``BENCH_RATE`` for the limits this build of Wess has.

    Only keys that exist are set: Wess refuses to start on an unknown one.
    """
    try:
        from wess.config import Settings
    except ImportError:
        return {}
    section = Settings.model_fields.get("ratelimit")
    fields = getattr(section.annotation, "model_fields", {}) if section is not None else {}
    limits = [key for key in ("per_ip", "per_key") if key in fields]
    return {f"WESS_RATELIMIT_{key.upper()}": BENCH_RATE for key in limits}


@contextlib.contextmanager
def wess_server(
    *, env: Mapping[str, str] | None = None, processes: int = 1, data_dir: Path | None = None
) -> Iterator[Server]:
    """``wess serve --port X --data-dir <tmp>``: defaults, but for the bench's rate limits
    (``rate_limit_env``) and ``env`` (``WESS_*``). With ``processes`` > 1 (and
    ``WESS_SERVER_WORKERS`` in ``env``), it is used once every worker serves.

    If the admin key the server just wrote is refused (401), the server is restarted
    once on the same data directory, and that is recorded in ``Server.notes`` (the
    report shows it): a workaround made visible, not hidden. ``data_dir``: serve that
    directory (kept) rather than a fresh temporary one.
    """
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="wess-bench-") as scratch:
        if data_dir is None:  # else: one the caller keeps across restarts
            data_dir = Path(scratch) / "data"
        command = [str(BIN / "wess"), "serve", "--port", str(port), "--data-dir", str(data_dir)]
        extra = {**rate_limit_env(), **(env or {})}
        notes: list[str] = []
        for attempt in (1, 2):
            with _started(
                "wess", command, port, env=_clean_env(extra), workdir=Path(scratch)
            ) as server:
                server.data_dir = data_dir
                server.env = extra
                _wait_for_workers(server, processes)
                server.flags = {"server.port": port, "database.path": data_dir}
                key_file = data_dir / ADMIN_KEY_FILE
                if key_file.exists():
                    token = key_file.read_text().strip()
                    server.auth_headers = {"Authorization": f"Bearer {token}"}
                    if attempt == 1 and _key_refused(server):
                        notes.append(
                            "the admin key Wess wrote to <data dir>/admin.key at its first "
                            "start was refused (401) until a restart; the bench restarted "
                            "the server once"
                        )
                        say("  admin.key refused: restarting the server once")
                        continue  # leaving the block stops the server
                server.notes = notes
                yield server
                return


def _wait_for_workers(server: Server, processes: int) -> None:
    """Until ``processes`` workers of ``wess serve --workers`` said they serve."""
    if processes <= 1:
        return
    deadline = time.monotonic() + START_TIMEOUT_S
    while server.log_text().count('"worker serving"') < processes:
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{processes} workers did not all start:\n{server.log_tail()}")
        time.sleep(0.1)


def _key_refused(server: Server) -> bool:
    client = server.client()
    try:
        return client.request("GET", "/v1/modules?limit=1").status == 401
    finally:
        client.close()


def _clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("WESS_")}
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextlib.contextmanager
def _started(
    name: str,
    command: list[str],
    port: int,
    *,
    env: dict[str, str],
    workdir: Path | None = None,
) -> Iterator[Server]:
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wess-bench-")))
        log_path = workdir / f"{name}.log"
        log = stack.enter_context(log_path.open("ab"))
        # cwd is a scratch directory, so no stray ./wess.toml changes Wess's settings.
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir
        )
        server = Server(name, port, process, log_path, workdir)
        try:
            _wait_until_up(server)
            say(f"  {name} up on {server.url} (pid {process.pid})")
            yield server
        finally:
            _stop(process)


def _wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    probe = Client(server.port)
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {server.process.returncode} at start-up:\n"
                + server.log_tail()
            )
        try:
            # Any HTTP answer means it listens (/healthz may want a key one day).
            probe.request("GET", "/healthz", timeout=2.0)
            return
        except OSError:
            time.sleep(0.1)
        finally:
            probe.close()
    raise RuntimeError(f"{server.name} did not answer within {START_TIMEOUT_S:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def sum_wasm() -> bytes:
    return (EXAMPLES / "sum.wasm").read_bytes()


@dataclass(frozen=True)
class Feature:
    on: bool
    evidence: str


def production_features(server: Server, uploaded: str | None = None) -> dict[str, Feature]:
    """Which production features the running Wess has on, read from its answers.

    Call it after at least one upload, whose module id is ``uploaded``: the audit check
    looks for that write in the audit trail (or the log).
    """
    features: dict[str, Feature] = {}
    anonymous = server.client(authorized=False)
    bare = anonymous.request("GET", "/v1/modules?limit=1")
    anonymous.close()
    if bare.status in (401, 403):
        evidence = f"GET /v1/modules without a key answered {bare.status}"
        if server.auth_headers:
            evidence += "; every bench request sends the admin key from <data dir>/admin.key"
        features["auth (API key)"] = Feature(True, "; ".join([evidence, *server.notes]))
    else:
        key = "admin.key present" if server.auth_headers else "no admin.key in the data dir"
        features["auth (API key)"] = Feature(
            False, f"GET /v1/modules without a key answered {bare.status}; {key}"
        )

    client = server.client()
    listing = client.request("GET", "/v1/modules?limit=1")
    metrics = client.request("GET", "/metrics")
    client.close()
    metrics_text = metrics.body.decode(errors="replace") if metrics.status == 200 else ""

    limit_headers = sorted(h for h in listing.headers if "ratelimit" in h.replace("-", ""))
    limit_metrics = sorted(
        set(re.findall(r"^(wess_\w*rate_?limit\w*)", metrics_text, re.MULTILINE))
    )
    if limit_headers or limit_metrics:
        evidence = f"server exposes {', '.join(limit_headers + limit_metrics)}"
        raised = [f"{k}={v}" for k, v in server.env.items() if k.startswith("WESS_RATELIMIT_")]
        if raised:
            evidence += f"; limits raised above the bench's load: {', '.join(raised)}"
        features["rate limiting"] = Feature(True, evidence)
    else:
        features["rate limiting"] = Feature(
            False, "no RateLimit-* response header and no rate-limit metric"
        )

    if "wess_http_requests_total" in metrics_text:
        features["metrics"] = Feature(True, "GET /metrics serves wess_http_requests_total")
    else:
        features["metrics"] = Feature(False, f"GET /metrics answered {metrics.status}")

    features["audit of writes"] = _audit(server, metrics_text, uploaded)
    return features


def _audit(server: Server, metrics_text: str, uploaded: str | None) -> Feature:
    """On when an audit endpoint (from /openapi.json) lists the upload, or the server
    exposes audit metrics or audit log records."""
    client = server.client()
    readable: list[str] = []
    try:
        schema = client.request("GET", "/openapi.json")
        paths = schema.json().get("paths", {}) if schema.status == 200 else {}
        readable = [p for p, ops in paths.items() if "audit" in p and "{" not in p and "get" in ops]
        for path in readable:
            answer = client.request("GET", path)
            if answer.status == 200 and uploaded and uploaded.encode() in answer.body:
                return Feature(True, f"GET {path} lists the upload")
    finally:
        client.close()
    audit_metrics = sorted(set(re.findall(r"^(wess_\w*audit\w*)", metrics_text, re.MULTILINE)))
    if audit_metrics:
        return Feature(True, f"server exposes {', '.join(audit_metrics)}")
    if re.search(r"\baudit", server.log_text(), re.IGNORECASE):
        return Feature(True, "audit records in the server log")
    if readable:
        return Feature(False, f"{', '.join(readable)} did not list the upload")
    return Feature(False, "no audit endpoint, audit metric or audit log record after an upload")


def features_info(features: Mapping[str, Feature]) -> list[str]:
    return [f"{name}: {'on' if f.on else 'OFF'} ({f.evidence})" for name, f in features.items()]
