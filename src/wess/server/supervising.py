"""Several server processes on one port: a supervisor and the workers it starts.

``wess serve --workers N`` binds the address in the supervisor (a taken port stops
start-up before anything is opened), then starts N worker processes that serve on the
inherited sockets; the kernel hands each connection to one of them. Every worker is a
whole Wess node on the shared store (its own caches, Writer and invocation threads,
node id ``<node>.<index>``), kept coherent with the others by the store's change feed,
exactly as separate machines are. The first worker starts alone (it may create the
server secret and the first admin key), the others once it serves.

The supervisor forwards SIGTERM and SIGINT (drain and stop) and SIGHUP (reload) to its
workers, starts a worker again when one dies (waiting longer each time they keep
dying), and exits 0 once every worker stopped cleanly. The workers are in a process
group of their own, so a terminal's Ctrl-C reaches them once, through it; and each
is told to stop if the supervisor itself dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import secrets
import signal
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnContext, SpawnProcess
from types import FrameType

import structlog

from wess.config import Settings
from wess.config.live import SettingsSource
from wess.errors import ServerStopped, WessError
from wess.observability.logging import configure_logging
from wess.server.listening import address_of, listening
from wess.server.serving import refuse_unavailable, run_server

logger = structlog.get_logger(__name__)

FIRST_RESTART_DELAY = 1.0
"""Seconds before a worker that died is started again; doubled at each death in a row."""
MOST_RESTART_DELAY = 30.0
STEADY_SECONDS = 60.0
"""A worker that served this long before dying is started again at once-ish (the
delay starts over): it did not die of its start-up."""
KILL_MARGIN = 10.0
"""Seconds past ``server.shutdown_timeout`` a stopping worker gets before SIGKILL."""
POLL_SECONDS = 0.5
"""The longest the supervisor waits before it looks at its workers again."""
READY = b"ready"
PR_SET_PDEATHSIG = 1


def process_count(settings: Settings) -> int:
    """How many server processes: ``server.workers``, else one per core with a shared
    store and one with the embedded store (which one process opens)."""
    configured = settings.server.workers
    if configured is not None:
        return configured
    return (os.cpu_count() or 1) if settings.database.shared else 1


def run(settings: Settings, *, source: SettingsSource | None = None) -> None:
    """``wess serve``: one server process, or a supervisor of several. Returns once the
    server stopped; raises a ``WessError`` (logged already) when it could not start or
    its workers did not stop cleanly. ``source`` is where ``settings`` came from, read
    again on reload (None: no reload)."""
    count = process_count(settings)
    node = settings.server.node_id or f"{socket.gethostname()}-{secrets.token_hex(3)}"
    configure_logging(
        level=settings.logging.level,
        format=settings.logging.format,
        fields={"node": node},
        levels=settings.logging.levels,
    )
    if count == 1:
        run_server(
            with_node(settings, node),
            source=None if source is None else source.with_flags({"server.node_id": node}),
        )
        return
    refuse_unavailable(settings)
    host = settings.server.host
    with listening(host, settings.server.port) as sockets:
        port = sockets[0].getsockname()[1]  # the one the system chose, for port 0
        workers = [worker_settings(settings, port=port, node=f"{node}.{i}") for i in range(count)]
        logger.info("wess supervising", url=f"{address_of(host, port)}", processes=count)
        if settings.ratelimit.storage.startswith("memory:"):
            logger.warning(
                "rate limits are counted by each process: a client may make up to "
                f"{count} times ratelimit.per_ip; set ratelimit.storage = redis://... "
                "to count them once for every process and node",
                processes=count,
            )
        sources = None
        if source is not None:
            sources = [
                source.with_flags(worker_flags(port=port, node=f"{node}.{i}")) for i in range(count)
            ]
        status = Supervisor(workers, sockets, sources=sources).run()
    if status != 0:
        raise ServerStopped(
            "a server process could not start or did not stop cleanly; the log above "
            "says which and why"
        )
    logger.info("wess stopped")


def with_node(settings: Settings, node: str) -> Settings:
    """``settings`` naming this node ``node``."""
    return settings.model_copy(
        update={"server": settings.server.model_copy(update={"node_id": node})}
    )


def worker_settings(settings: Settings, *, port: int, node: str) -> Settings:
    """The settings of one worker: the bound port, one process, a node id of its own."""
    update = {
        key.partition(".")[2]: value for key, value in worker_flags(port=port, node=node).items()
    }
    server = settings.server.model_copy(update=update)
    return settings.model_copy(update={"server": server})


def worker_flags(*, port: int, node: str) -> dict[str, object]:
    """What a worker's settings say apart from the others' (as flags, so that a reload
    reading the file again keeps them)."""
    return {"server.port": port, "server.workers": 1, "server.node_id": node}


@dataclass
class Worker:
    """One server process, as its supervisor tracks it."""

    index: int
    settings: Settings
    source: SettingsSource | None = None
    process: SpawnProcess | None = None
    ready: Connection | None = None
    served: bool = False  # it said it serves (since its last start)
    started_at: float = 0.0
    deaths: int = 0  # in a row, each without serving for STEADY_SECONDS
    restart_at: float | None = None
    exit_codes: list[int] = field(default_factory=list)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.exitcode is None


class Supervisor:
    """Starts the workers, watches them, relays signals, stops them in order."""

    def __init__(
        self,
        workers: list[Settings],
        sockets: list[socket.socket],
        *,
        context: SpawnContext | None = None,
        clock: Callable[[], float] = time.monotonic,
        sources: list[SettingsSource] | None = None,
    ) -> None:
        self._workers = [
            Worker(i, s, None if sources is None else sources[i]) for i, s in enumerate(workers)
        ]
        self._sockets = sockets
        self._context = context or multiprocessing.get_context("spawn")
        self._clock = clock
        self._stopping_since: float | None = None
        self._failed = False
        self._grace = workers[0].server.shutdown_timeout + KILL_MARGIN
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)

    def run(self) -> int:
        """Serve until told to stop; the exit status (0: every worker stopped cleanly)."""
        with self._signals():
            self._start(self._workers[0])  # alone: it may create what the others share
            while not self._done():
                self._step()
        os.close(self._wake_read)
        os.close(self._wake_write)
        return 1 if self._failed else 0

    def _done(self) -> bool:
        return self._stopping_since is not None and not any(w.alive for w in self._workers)

    def _step(self) -> None:
        """Wait for one thing to happen (a signal, a worker ready or dead, a deadline)
        and act on it."""
        waiting: dict[Connection | int, Worker] = {}
        for worker in self._workers:
            if worker.alive and worker.process is not None:
                waiting[worker.process.sentinel] = worker
                if worker.ready is not None and not worker.served:
                    waiting[worker.ready] = worker
        for happened in wait([self._wake_read, *waiting], timeout=self._timeout()):
            if happened == self._wake_read:
                self._signalled(os.read(self._wake_read, 64))
            elif isinstance(happened, Connection):
                self._heard(waiting[happened], happened)
        for worker in self._workers:
            process = worker.process
            if process is not None and process.exitcode is not None:
                self._died(worker, process.exitcode)
                process.close()
        self._on_time()

    def _timeout(self) -> float:
        """Until the next deadline, and never longer than ``POLL_SECONDS``: a worker's
        sentinel stays unreadable while a process it started (a compile worker) still
        holds the pipe, so its exit is also looked for (``exitcode``) at every poll."""
        now = self._clock()
        deadlines = [w.restart_at for w in self._workers if w.restart_at is not None]
        if self._stopping_since is not None:
            deadlines.append(self._stopping_since + self._grace)
        if not deadlines:
            return POLL_SECONDS
        return min(max(0.0, min(deadlines) - now), POLL_SECONDS)

    def _start(self, worker: Worker) -> None:
        receive, send = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=work,
            args=(worker.settings, self._sockets, send, worker.source),
            name=f"wess-worker-{worker.index}",
        )
        with _reloads_ignored():  # inherited: SIGHUP ignored until the worker can reload
            process.start()
        send.close()  # the worker holds the other end; this one sees it close if it dies
        worker.process, worker.ready, worker.served = process, receive, False
        worker.started_at, worker.restart_at = self._clock(), None
        logger.info("worker started", worker=worker.index, pid=process.pid)

    def _heard(self, worker: Worker, ready: Connection) -> None:
        try:
            said = ready.recv_bytes()
        except (EOFError, OSError):  # it died before serving: its sentinel says so
            ready.close()
            worker.ready = None
            return
        if said == READY:
            worker.served = True
            ready.close()
            worker.ready = None
            logger.info("worker serving", worker=worker.index)
            if worker.index == 0 and self._stopping_since is None:
                for other in self._workers[1:]:
                    if other.process is None:
                        self._start(other)

    def _died(self, worker: Worker, code: int) -> None:
        worker.exit_codes.append(code)
        worker.process = None
        if worker.ready is not None:
            worker.ready.close()
            worker.ready = None
        if self._stopping_since is not None:
            if code != 0:
                self._failed = True
                logger.error("worker did not stop cleanly", worker=worker.index, status=code)
            return
        if not worker.served and not any(w.served for w in self._workers):
            # the first start failed: the same would happen again (a setting, the
            # store unreachable, ...); its own log line says why
            logger.error("worker could not start", worker=worker.index, status=code)
            self._failed = True
            self._stop()
            return
        lived = self._clock() - worker.started_at
        worker.deaths = 1 if lived >= STEADY_SECONDS else worker.deaths + 1
        delay = min(MOST_RESTART_DELAY, FIRST_RESTART_DELAY * 2 ** (worker.deaths - 1))
        worker.restart_at = self._clock() + delay
        logger.error(
            "worker died; starting it again", worker=worker.index, status=code, delay=delay
        )

    def _on_time(self) -> None:
        now = self._clock()
        if self._stopping_since is not None:
            if now >= self._stopping_since + self._grace:
                for worker in self._workers:
                    if worker.alive and worker.process is not None:
                        logger.error("worker killed: it did not stop in time", worker=worker.index)
                        worker.process.kill()
            return
        for worker in self._workers:
            if worker.restart_at is not None and now >= worker.restart_at:
                self._start(worker)

    def _signalled(self, received: bytes) -> None:
        for name in received.decode():
            if name == "H":
                logger.info("reload signal relayed to the workers")
                self._relay(signal.SIGHUP)
            else:
                self._stop()

    def _stop(self) -> None:
        if self._stopping_since is not None:
            return
        logger.info("stopping the workers")
        self._stopping_since = self._clock()
        for worker in self._workers:
            worker.restart_at = None
        self._relay(signal.SIGTERM)

    def _relay(self, signum: int) -> None:
        for worker in self._workers:
            if worker.alive and worker.process is not None and worker.process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.process.pid, signum)

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        """SIGTERM/SIGINT and SIGHUP only note themselves in the wake-up pipe; the loop
        acts on them."""

        def note(signum: int, frame: FrameType | None) -> None:
            with contextlib.suppress(BlockingIOError):
                os.write(self._wake_write, b"H" if signum == signal.SIGHUP else b"T")

        handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        previous = {sig: signal.signal(sig, note) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def work(
    settings: Settings,
    sockets: list[socket.socket],
    ready: Connection,
    source: SettingsSource | None = None,
) -> None:
    """A worker process: serve on ``sockets`` until told to stop; reload ``source`` on
    SIGHUP."""
    os.setpgrp()  # the terminal's Ctrl-C reaches the supervisor, which relays it once
    _stop_with_parent()
    node = settings.server.node_id or ""
    configure_logging(
        level=settings.logging.level,
        format=settings.logging.format,
        fields={"node": node},
        levels=settings.logging.levels,
    )

    def serving() -> None:
        ready.send_bytes(READY)
        ready.close()

    try:
        run_server(settings, sockets=sockets, on_ready=serving, source=source)
    except WessError:  # logged already, with the reason
        raise SystemExit(1) from None


@contextlib.contextmanager
def _reloads_ignored() -> Iterator[None]:
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)


def _stop_with_parent() -> None:
    """Ask Linux to send SIGTERM to this process when its supervisor dies, so no worker
    outlives it on the port; elsewhere there is no such request and nothing happens."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the supervisor died before the request was made
        raise SystemExit(1)
