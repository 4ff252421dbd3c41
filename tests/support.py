"""A real `wess serve` process for end-to-end tests and Behave features."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

T = TypeVar("T")
READY_TIMEOUT = 30.0
SETTLE = 10.0
"""Seconds ``eventually`` waits at most for something to happen (a guard, not a measure)."""


def require_service(name: str, host: str, port: int) -> None:
    """Skip the test when ``host:port`` does not answer, or fail if WESS_REQUIRE_SERVICES=1.

    CI sets WESS_REQUIRE_SERVICES=1 so that a missing service fails loudly instead of
    quietly skipping the tests that need it.
    """
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return
    except OSError as exc:
        reason = f"{name} is not reachable on {host}:{port} ({exc.strerror or exc})"
    if os.environ.get("WESS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}, and WESS_REQUIRE_SERVICES=1 requires it")
    pytest.skip(reason)


def eventually(check: Callable[[], T | None], what: str, *, settle: float = SETTLE) -> T:
    """What ``check`` returns once it is truthy; ``AssertionError`` naming ``what`` if it
    is not within ``settle`` seconds."""
    deadline = time.monotonic() + settle
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {settle} s")
        time.sleep(0.02)


async def until(condition: Callable[[], object], what: str, *, settle: float = SETTLE) -> None:
    """Yield to the event loop until ``condition()`` is truthy; ``AssertionError`` naming
    ``what`` if it is not within ``settle`` seconds (a bound on the wait, not a timing)."""
    deadline = time.monotonic() + settle
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {settle} s")
        await asyncio.sleep(0.005)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    """Starts `python -m wess serve` on a free port with its own data dir and log file."""

    data_dir: Path
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    """0 until started: the server binds any free port itself (no race with another
    process for a port chosen beforehand) and logs it; set to a port to ask for it."""
    process: subprocess.Popen[bytes] | None = None
    ca_file: Path | None = None
    """Set for a server with TLS: its URL is https and clients verify against this CA."""
    client_cert: tuple[Path, Path] | None = None
    """A client certificate and key, for a server that requires mTLS."""
    _log_offset: int = field(default=0, init=False, repr=False)

    @property
    def url(self) -> str:
        scheme = "https" if self.ca_file is not None else "http"
        host = "localhost" if self.ca_file is not None else "127.0.0.1"
        return f"{scheme}://{host}:{self.port}"

    def _tls(self) -> dict[str, object]:
        if self.ca_file is None:
            return {}
        context = ssl.create_default_context(cafile=str(self.ca_file))
        if self.client_cert is not None:
            context.load_cert_chain(*(str(p) for p in self.client_cert))
        return {"verify": context}

    def start(self) -> ServerProcess:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        environment = {k: v for k, v in os.environ.items() if not k.startswith("WESS_")}
        environment.update({"WESS_LOGGING_FORMAT": "json", **self.env})
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the fd
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "wess",
                    "serve",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
                cwd=self.data_dir.parent,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.kill()  # never leave a server behind, whatever went wrong
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"wess exited with {self.process.returncode}:\n{self.log()}")
            if not self.port:
                self.port = self._logged_port()
                if not self.port:
                    time.sleep(0.05)
                    continue
            try:
                response = httpx.get(f"{self.url}/readyz", timeout=1.0, **self._tls())  # type: ignore[arg-type]
                if response.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"wess did not become ready in {READY_TIMEOUT}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def _logged_port(self) -> int:
        """The port named by this start's ``wess serving`` log line, or 0 before it."""
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            for line in log:
                if b'"wess serving"' in line:
                    port: int = json.loads(line)["port"]
                    return port
        return 0

    @property
    def token(self) -> str:
        """The bootstrap admin key's token, written on first start."""
        return (self.data_dir / "admin.key").read_text().strip()

    def client(self, token: str | None = None, *, timeout: float = 30) -> httpx.Client:
        """An HTTP client of this server, authenticated as ``token`` (default: admin)."""
        headers = {"authorization": f"Bearer {token or self.token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout, **self._tls())  # type: ignore[arg-type]

    def kill(self) -> None:
        """kill -9: no chance to flush or drain anything."""
        self.stop(signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextmanager
def raw_family(path: Path, name: str = "default", *, read_only: bool = False) -> Iterator[Any]:
    """One column family of the RocksDB store at ``path``, opened raw (bytes in, bytes
    out) for a test to read or damage what Wess wrote (``read_only``: beside a server
    that holds it open); closed on exit."""
    from rocksdict import AccessType, Options, Rdict

    access = AccessType.read_only() if read_only else AccessType.read_write()
    db = Rdict(str(path), Options(raw_mode=True), access_type=access)
    family = db if name == "default" else db.get_column_family(name)
    try:
        yield family
    finally:
        if family is not db:
            family.close()
        db.close()


def flush_families(path: Path) -> None:
    """Move everything from the WAL into SST files in every column family, as a
    long-running store would."""
    from rocksdict import Options, Rdict

    db = Rdict(str(path), Options(raw_mode=True))
    try:
        for name in Rdict.list_cf(str(path)):
            family = db.get_column_family(name)
            family.flush()
            family.close()
    finally:
        db.close()


def files_starting_with(path: Path, prefix: bytes) -> list[Path]:
    """The table (SST) files of the store at ``path`` whose first key begins with
    ``prefix`` (rocksdict does not say which family a file belongs to; its keys do)."""
    from rocksdict import AccessType, Options, Rdict

    db = Rdict(str(path), Options(raw_mode=True), access_type=AccessType.read_only())
    try:
        files = db.live_files()
    finally:
        db.close()
    return [path / str(f["name"]).lstrip("/") for f in files if f["start_key"].startswith(prefix)]


POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
"""The machine's PostgreSQL (trust auth); each test uses a schema of its own."""


@contextmanager
def postgres_schema(name: str) -> Iterator[str]:
    """A store URL naming schema ``name`` in the local PostgreSQL, the schema dropped on
    exit; skips (fails under WESS_REQUIRE_SERVICES=1) when the server is not there."""
    import psycopg
    from psycopg import sql

    require_service("PostgreSQL", "127.0.0.1", 5432)
    try:
        yield f"{POSTGRES}?schema={name}"
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def wess(
    *args: str,
    server: ServerProcess | None = None,
    ok: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m wess *args`` (against ``server`` when given); asserts it succeeded
    unless ``ok`` is False."""
    environment = {"PATH": "/usr/bin:/bin"}
    if server is not None:
        environment |= {"WESS_URL": server.url, "WESS_API_KEY": server.token}
    environment |= env or {}
    result = subprocess.run(
        [sys.executable, "-m", "wess", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if ok:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def modules_of(server: ServerProcess, token: str | None = None) -> dict[str, tuple[int, str]]:
    """Every module: id -> (revision, sha256 of the bytes downloaded)."""
    held = {}
    with server.client(token) as client:
        for item in client.get("/v1/modules", params={"limit": "1000"}).json()["items"]:
            body = client.get(f"/v1/modules/{item['id']}/wasm").content
            held[item["id"]] = (item["revision"], "sha256:" + hashlib.sha256(body).hexdigest())
    return held


def audit_of(server: ServerProcess, token: str | None = None) -> list[dict[str, Any]]:
    """The audit log of ``server``, oldest first."""
    with server.client(token) as client:
        items: list[dict[str, Any]] = client.get("/v1/audit", params={"limit": "1000"}).json()[
            "items"
        ]
        return items
