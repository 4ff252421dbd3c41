"""Compiling untrusted modules in worker processes, under a CPU-time and a memory cap.

A module crafted to make the compiler spin or balloon must not take the server with
it. ``IsolatedCompiler`` keeps a few long-lived worker processes (spawned, so they
share no threads or locks with the server) and, for every compile, the worker
(``compile_worker``):

- lowers RLIMIT_CPU's soft limit to the CPU time it has used so far plus the cap, so
  the kernel stops it with SIGXCPU once the compile has used the cap (whole seconds);
- sets RLIMIT_AS to its current address space plus the memory cap, so an allocation
  past it fails (wasmtime aborts the process; Python raises ``MemoryError``);
- answers with the artifact (image and analysis) in ``artifact.encode_artifact``'s
  layout, or with the error, as bytes: the server never unpickles what a worker sends.

A worker that dies or overruns is replaced and the compile raises
``CompileLimitExceeded``; ``InvalidWasm`` and ``UnknownImport`` come back exactly as an
in-process compile raises them. The isolation bounds resources: the server still
trusts the code wasmtime generates, as it does when it compiles in-process.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import signal
import threading
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import TracebackType

import orjson
import structlog

from wess.errors import CompileLimitExceeded, InvalidWasm, UnknownImport, WessError
from wess.runtime.artifact import Artifact, ArtifactUnusable, decode_artifact, flavor_of
from wess.runtime.compile_worker import ARTIFACT, ERROR, OUT_OF_MEMORY, CompileCaps, worker_main
from wess.runtime.engine import RuntimeConfig

logger = structlog.get_logger(__name__)

ERRORS: dict[str, type[WessError]] = {
    cls.code: cls for cls in (InvalidWasm, UnknownImport, CompileLimitExceeded)
}
CPU_SIGNALS = (signal.SIGXCPU, signal.SIGKILL)
STOP_TIMEOUT = 2.0


def wall_timeout(cpu_seconds: int) -> float:
    """How long the server waits for a worker before it kills it: the CPU cap bounds
    a compile, this only catches a worker that stopped without using CPU."""
    return max(60.0, 20.0 * cpu_seconds)


class IsolatedCompiler:
    """``processes`` compile workers for modules of one ``RuntimeConfig``.

    ``compile`` blocks (call it from a thread) and is safe from many threads: each
    call waits for an idle worker. Use as a context manager, or ``start``/``close``.
    """

    def __init__(
        self,
        config: RuntimeConfig,
        *,
        cpu_seconds: int,
        memory_bytes: int,
        processes: int = 1,
        component_cpu_seconds: int | None = None,
        component_memory_bytes: int | None = None,
    ) -> None:
        if cpu_seconds < 1 or memory_bytes < 1 or processes < 1:
            raise ValueError("cpu_seconds, memory_bytes and processes must be positive")
        self.config = config
        self.flavor = flavor_of(config)
        self.cpu_seconds = cpu_seconds
        self.memory_bytes = memory_bytes
        self.caps = CompileCaps(
            cpu_seconds=cpu_seconds,
            memory=memory_bytes,
            component_cpu_seconds=component_cpu_seconds or cpu_seconds,
            component_memory=component_memory_bytes or memory_bytes,
        )
        self._processes = processes
        self._context = multiprocessing.get_context("spawn")
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._workers: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.replaced = 0
        """Workers replaced after they died or overran (for tests and logs)."""

    def __enter__(self) -> IsolatedCompiler:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        """Start the workers; they get ready in the background."""
        for _ in range(self._processes):
            self._idle.put(self._spawn())

    def close(self) -> None:
        """Stop every worker (killing one still compiling); idempotent."""
        with self._lock:
            self._closed = True
            workers, self._workers = self._workers, set()
        for worker in workers:
            worker.stop()

    def compile(self, wasm: bytes, *, digest: str) -> Artifact:
        """The artifact of ``wasm`` (whose digest is ``digest``), compiled by a worker."""
        cpu_seconds, memory = self.caps.of(wasm)
        worker = self._acquire()
        try:
            reply = worker.ask(digest, wasm, timeout=wall_timeout(cpu_seconds))
            if reply[:1] == OUT_OF_MEMORY:
                raise _WorkerLost("out of memory", None)
        except _WorkerLost as lost:
            if self._closed:
                raise RuntimeError("the compiler is closed") from None
            worker = self._replace(worker, lost.reason)
            raise self._lost(lost.exitcode, cpu_seconds, memory) from None
        finally:
            self._idle.put(worker)
        return self._answer(reply, digest)

    def _answer(self, reply: bytes, digest: str) -> Artifact:
        kind, body = reply[:1], memoryview(reply)[1:]
        if kind == ARTIFACT:
            try:
                artifact = decode_artifact(body)
            except ArtifactUnusable as exc:
                raise RuntimeError(f"a compile worker answered garbage: {exc.reason}") from None
            if artifact.digest != digest or artifact.flavor != self.flavor:
                raise RuntimeError("a compile worker answered for another module")
            return artifact
        document = orjson.loads(body)
        error = ERRORS.get(document.get("code"))
        if kind != ERROR or error is None:
            raise RuntimeError(f"a compile worker failed: {document.get('detail')}")
        raise error(document["detail"], **document.get("context", {}))

    def _lost(self, exitcode: int | None, cpu_seconds: int, memory: int) -> Exception:
        """Why a worker was lost: a status means it ended on its own (a bug, not the
        module); SIGXCPU or SIGKILL (the wall timeout) the CPU cap; an abort, a crash or
        ``MemoryError`` (no exit code) the memory cap."""
        if exitcode is not None and exitcode >= 0:
            return RuntimeError(f"a compile worker exited with status {exitcode}")
        if exitcode is not None and -exitcode in CPU_SIGNALS:
            return CompileLimitExceeded(
                f"compiling the module took more than {cpu_seconds} s of CPU time",
                limit=cpu_seconds,
                resource="cpu_seconds",
            )
        return CompileLimitExceeded(
            f"compiling the module needed more than {memory} bytes of memory",
            limit=memory,
            resource="memory",
        )

    def _acquire(self) -> _Worker:
        while True:
            if self._closed:
                raise RuntimeError("the compiler is closed")
            with contextlib.suppress(queue.Empty):
                return self._idle.get(timeout=0.5)

    def _spawn(self) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=worker_main,
            args=(child, self.config, self.caps),
            name="wess-compiler",
            daemon=True,
        )
        process.start()
        child.close()
        worker = _Worker(process, parent)
        with self._lock:
            if self._closed:
                worker.stop()
            else:
                self._workers.add(worker)
        return worker

    def _replace(self, worker: _Worker, reason: str) -> _Worker:
        logger.warning("compile worker replaced", reason=reason, exitcode=worker.exitcode)
        worker.stop()
        with self._lock:
            self._workers.discard(worker)
            self.replaced += 1
        return self._spawn()


class _WorkerLost(Exception):
    def __init__(self, reason: str, exitcode: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.exitcode = exitcode


class _Worker:
    """One worker process and the server's end of its pipe."""

    def __init__(self, process: BaseProcess, connection: Connection) -> None:
        self.process = process
        self.connection = connection

    @property
    def exitcode(self) -> int | None:
        return self.process.exitcode

    def ask(self, digest: str, wasm: bytes, *, timeout: float) -> bytes:
        try:
            self.connection.send_bytes(digest.encode())
            self.connection.send_bytes(wasm)
            if not self.connection.poll(timeout):
                self.process.kill()
                self.process.join(STOP_TIMEOUT)
                raise _WorkerLost(f"no answer within {timeout:g} s", self.process.exitcode)
            return self.connection.recv_bytes()
        except (EOFError, OSError):
            self.process.join(STOP_TIMEOUT)
            raise _WorkerLost("the worker died", self.process.exitcode) from None

    def stop(self) -> None:
        self.connection.close()  # the worker reads EOF and returns
        self.process.join(STOP_TIMEOUT)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.process.close()

    def __repr__(self) -> str:
        return f"<compile worker {self.process.pid}>"
