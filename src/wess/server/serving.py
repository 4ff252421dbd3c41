"""Serving HTTP(S) until a stop signal, then closing everything in order."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
import ssl
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from functools import partial
from types import FrameType
from urllib.parse import urlsplit

import structlog
import uvicorn
import uvloop

from wess.api.app import create_app
from wess.api.sites import SitePolicy
from wess.config import Settings
from wess.config.live import LiveSettings, SettingsSource
from wess.errors import ConfigError, ServerStopped, StorageUnavailable, WessError
from wess.observability.health import Lifecycle
from wess.observability.logging import AccessLog, set_levels
from wess.observability.metrics import Metrics
from wess.security.tls import TlsSettings as ServerTls
from wess.security.tls import server_context
from wess.server.connections import (
    ConnectionRules,
    GuardedHttpProtocol,
    guarded_protocol,
    reconfigure,
)
from wess.server.listening import address_of, listening
from wess.server.reloading import Reloader, watch_config
from wess.server.security import is_loopback
from wess.server.state import open_state
from wess.server.tracing import open_tracing

logger = structlog.get_logger(__name__)

PRIVATE_UMASK = 0o077


async def serve(
    settings: Settings,
    *,
    sockets: list[socket.socket] | None = None,
    on_ready: Callable[[], None] | None = None,
    source: SettingsSource | None = None,
) -> None:
    """Bind the address, open everything, serve HTTP until SIGINT/SIGTERM, then close
    everything. A setting this version cannot honour, a bad certificate or an address
    that cannot be bound stops start-up before anything is opened or created on disk.

    ``sockets`` are already listening (a worker of ``wess serve --workers``: its
    supervisor bound them); ``on_ready`` is called once everything is open, just
    before requests are served. ``source`` is where ``settings`` came from: SIGHUP (and
    the file watch, with ``server.watch_config``) reads it again (``reloading``)."""
    refuse_unavailable(settings)
    metrics = Metrics(per_module=settings.metrics.per_module)
    tls = tls_context(settings)
    host, port = settings.server.host, settings.server.port
    live = LiveSettings(settings)
    bound = contextlib.nullcontext(sockets) if sockets is not None else listening(host, port)
    tracing_open = open_tracing(settings.tracing, node=settings.server.node_id)
    with bound as sockets, tracing_open as tracing:
        port = sockets[0].getsockname()[1]  # the one the system chose, for port 0
        async with open_state(settings, metrics=metrics, tracing=tracing, live=live) as state:
            # What start-up built (the app, the runtime, caches' first entries) lives as
            # long as the server: out of the collector's way, so its full passes (during
            # a large listing, say) walk only what requests allocate.
            gc.freeze()
            access = AccessLog(
                json=settings.logging.format == "json"
                or (settings.logging.format == "auto" and not sys.stderr.isatty())
            )
            scheme = "https" if tls is not None else "http"
            sites = site_policy(settings, port=port, scheme=scheme)
            app = create_app(state, sites=sites, access_log=access)
            proxies = list(settings.server.trusted_proxies)
            protocol = guarded_protocol(connection_rules(settings))
            config = uvicorn.Config(
                app,
                host=host,
                port=port,
                http=protocol,
                ws="none",  # Wess has no WebSocket routes: no upgrades
                lifespan="off",
                log_config=None,
                access_log=False,
                server_header=False,
                # X-Forwarded-* only from the configured proxies: uvicorn's default
                # believes any client on 127.0.0.1, whose header then names any address
                proxy_headers=bool(proxies),
                forwarded_allow_ips=proxies,
                timeout_graceful_shutdown=int(settings.server.shutdown_timeout),
                ssl_context_factory=(lambda *_: tls) if tls is not None else None,
            )
            logger.info(
                "wess serving",
                url=f"{scheme}://{address_of(host, port)}",
                port=port,
                storage=settings.database.effective_url,
            )
            lifecycle = Lifecycle()
            server = DrainingServer(config, lifecycle=lifecycle)
            served = server.server_state  # requests in flight are its tasks
            metrics.concurrent_connections.set_function(lambda: len(served.tasks))
            metrics.http_connections.set_function(lambda: len(served.connections))
            state.health.add("draining", lifecycle.probe)
            state.health.add("listeners", server.listening)
            live.subscribe(partial(_follow, protocol))
            reloader = None if source is None else Reloader(live, source, metrics=metrics)
            async with _watching(settings, reloader):
                with _signals_handled_by_uvicorn(server), _reloads_on_sighup(reloader):
                    if on_ready is not None:  # from now on SIGHUP reloads
                        on_ready()
                    await server.serve(sockets=sockets)
            logger.info("draining and closing")
    logger.info("wess stopped")


class DrainingServer(uvicorn.Server):
    """uvicorn's server, failing readiness the moment a stop signal arrives (before
    uvicorn, which looks every 0.1 s, closes the listeners)."""

    def __init__(self, config: uvicorn.Config, *, lifecycle: Lifecycle) -> None:
        super().__init__(config)
        self._lifecycle = lifecycle

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._lifecycle.drain()
        super().handle_exit(sig, frame)

    def stop_requested(self) -> None:
        """Stop as a signal would, without re-raising one when uvicorn is done."""
        self._lifecycle.drain()
        self.should_exit = True

    async def listening(self) -> None:
        """The readiness check ``listeners``: every listening socket accepts."""
        servers = getattr(self, "servers", [])  # set by uvicorn's start-up
        if not servers or not all(server.is_serving() for server in servers):
            raise RuntimeError("not accepting connections")


def _follow(protocol: type[GuardedHttpProtocol], settings: Settings) -> None:
    """Put the reloadable keys the serving layer uses in force."""
    reconfigure(protocol, connection_rules(settings))
    set_levels(settings.logging.level, settings.logging.levels)


@contextlib.asynccontextmanager
async def _watching(settings: Settings, reloader: Reloader | None) -> AsyncIterator[None]:
    """Watch the configuration file while serving, with ``server.watch_config``."""
    path = None if reloader is None else reloader.source.path
    if reloader is None or path is None or not settings.server.watch_config:
        if settings.server.watch_config:
            logger.warning("server.watch_config is set, but no configuration file is in use")
        yield
        return
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_config(reloader, path, stop=stop))
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await watcher


@contextmanager
def _reloads_on_sighup(reloader: Reloader | None) -> Iterator[None]:
    """SIGHUP reloads the configuration (on the event loop) while serving."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()

    def reload(signum: int, frame: FrameType | None) -> None:
        if reloader is None:
            logger.warning("reload signal ignored: this server knows no configuration source")
        else:
            loop.call_soon_threadsafe(reloader.reload)

    previous = signal.signal(signal.SIGHUP, reload)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)


def site_policy(settings: Settings, *, port: int, scheme: str = "http") -> SitePolicy:
    """The hosts and origins this server answers to, bound on ``server.host:port``."""
    server = settings.server
    return SitePolicy.for_address(
        server.host,
        port,
        loopback=is_loopback(server.host),
        scheme=scheme,
        allowed_hosts=server.allowed_hosts,
        cors_origins=server.cors_origins,
    )


def connection_rules(settings: Settings) -> ConnectionRules:
    """Deadlines and the per-address cap of every connection."""
    server = settings.server
    return ConnectionRules(
        header_timeout=server.header_timeout,
        body_timeout=server.body_timeout,
        max_per_client=server.max_connections_per_client,
        exempt=server.trusted_proxies,
    )


def refuse_unavailable(settings: Settings) -> None:
    """Stop start-up on a setting Wess accepts but cannot honour, saying so."""
    if settings.backup.interval > 0 and settings.database.shared:
        raise ConfigError(
            f"backup.interval = {settings.backup.interval:g}: scheduled backups copy the "
            "embedded RocksDB store; back a PostgreSQL store up with PostgreSQL's own "
            "tools (pg_dump, base backups with WAL archiving), or `wess export`. Set "
            "backup.interval = 0, or remove it.",
            key="backup.interval",
        )
    workers = settings.server.workers
    if workers is not None and workers > 1 and not settings.database.shared:
        scheme = urlsplit(settings.database.effective_url).scheme
        raise ConfigError(
            f"server.workers = {workers}: the {scheme} store is opened by one process "
            "only, so several server processes need a shared store (database.url = "
            "postgresql://...). Set server.workers = 1, or remove it; runner.workers "
            "sets the invocation threads of the one process.",
            key="server.workers",
        )


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """HTTPS only, TLS 1.2 or newer, client certificates when a CA is configured."""
    tls = settings.tls
    if tls.cert_file is None and tls.key_file is None:
        if tls.client_ca_file is not None:
            raise ConfigError("tls.client_ca_file needs tls.cert_file and tls.key_file")
        return None
    if tls.cert_file is None or tls.key_file is None:
        raise ConfigError("tls.cert_file and tls.key_file go together: set both")
    return server_context(
        ServerTls(cert_file=tls.cert_file, key_file=tls.key_file, client_ca_file=tls.client_ca_file)
    )


@contextmanager
def _signals_handled_by_uvicorn(server: DrainingServer) -> Iterator[None]:
    """uvicorn stops on SIGINT/SIGTERM, then re-raises the signal to the handler that was
    installed before it: make that one stop ``server`` without dying, so Wess goes on to
    drain the Writer and close the store instead of dying with the signal's default
    action. A signal that comes just before uvicorn installs its own handler stops the
    server all the same (uvicorn skips its main loop when asked to exit first)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stopping(signum: int, frame: FrameType | None) -> None:
        logger.info("stop signal received", signal=signal.Signals(signum).name)
        server.stop_requested()

    previous = {sig: signal.signal(sig, stopping) for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _reload_later(signum: int, frame: FrameType | None) -> None:
    logger.warning("reload signal ignored: the server is starting or stopping")


def run_server(
    settings: Settings,
    *,
    sockets: list[socket.socket] | None = None,
    on_ready: Callable[[], None] | None = None,
    source: SettingsSource | None = None,
) -> None:
    """Blocking entry point of one server process (``serve``): returns once the server
    stopped. An error that stops start-up is logged (one structured line) and raised,
    for the command line to tell the user. SIGHUP never ends the process: while it
    serves it reloads ``source``, before and after it is ignored (and said so)."""
    os.umask(PRIVATE_UMASK)  # every file Wess (and RocksDB) creates: owner only
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGHUP, _reload_later)
    try:
        uvloop.run(serve(settings, sockets=sockets, on_ready=on_ready, source=source))
    except StorageUnavailable as exc:
        logger.error("cannot start: storage unavailable", detail=exc.detail)
        raise
    except WessError as exc:
        logger.error("cannot start", code=exc.code, detail=exc.detail)
        raise
    except (KeyboardInterrupt, asyncio.CancelledError):
        return
    except OSError as exc:  # the machine refused (a permission, a full disk, ...)
        logger.error("cannot start", code="os_error", detail=str(exc))
        raise ServerStopped(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from exc
    except Exception as exc:  # a bug: its traceback goes to the log, not to the terminal
        logger.exception("stopped by an unexpected error")
        raise ServerStopped(
            f"Wess stopped on an unexpected {type(exc).__name__}: {exc}. The log holds the "
            "traceback; please report it."
        ) from exc
