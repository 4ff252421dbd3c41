"""Programs for modules: the compiled cache, else the stored artifact, else a compile.

A restart empties the compiled-module cache, and compiling a large module again costs
seconds where loading the artifact stored beside it costs milliseconds. So on a cache
miss the ``ProgramLoader`` asks the Reader for the module's artifact of the runtime's
flavor, checks its seal and loads it. When there is none, or it fails its seal or
wasmtime refuses it (logged, and counted in ``wess_artifacts_total{outcome}``), the
module compiles and a fresh artifact goes to the Writer as a ``StoreArtifact`` job, in
the background: the Runner never writes storage itself.

Compiles run on the Runner's compile pool, which the namespaces share fairly
(``fairness``): an upload's compile is its caller's namespace's, a stored module's
its own namespace's. Uploads compile here too (``prepare``), in the isolated
compiler when there is one,
so a module that makes the compiler spin or balloon is refused with
``CompileLimitExceeded`` instead of hurting the server; its artifact travels with the
create or update job and is committed in the same batch as the module. The upload
leaves the compiled cache alone: that artifact serves the module's first run, so
storing thousands of modules that are seldom run costs the server no memory. Stored
modules that must compile again go through the isolated compiler as well: a new
wasmtime or engine setting can make the same bytes costlier to compile than when they
were accepted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from uuid import UUID

import structlog

from wess.errors import ModuleNotFound, PreconditionFailed, StorageError, WessError
from wess.messages import StoreArtifact
from wess.models import ModuleRecord, SealedArtifact, digest_of
from wess.observability.metrics import Metrics
from wess.runtime import ModuleAnalysis, Program, Runtime
from wess.runtime.artifact import Artifact, ArtifactSealer, ArtifactUnusable
from wess.runtime.isolated import IsolatedCompiler
from wess.workers.fairness import FairPool

logger = structlog.get_logger(__name__)

ArtifactSource = Callable[[UUID, str, str], Awaitable[SealedArtifact | None]]
"""``(module_id, digest, flavor) -> artifact``: ``Reader.get_artifact``."""
ArtifactSink = Callable[[StoreArtifact], Awaitable[object]]
"""Where fresh artifacts go: ``Writer.submit``."""
LOAD_THREADS = 2


@dataclass(frozen=True, slots=True)
class PreparedModule:
    """An upload that compiled: what it offers and needs, and its sealed artifact
    (None when the loader keeps no artifacts)."""

    analysis: ModuleAnalysis
    artifact: SealedArtifact | None


class ProgramLoader:
    """Loads programs on compiled-cache misses; see the module docstring.

    Without a ``sealer`` (or without ``artifacts``) it neither reads nor makes
    artifacts; without a ``compiler`` every compile runs in-process. Compiles run on the
    ``pool`` each call is given (the Runner's compile pool, in the namespace's turn:
    ``NamespaceBusy`` when it has its most compiles in); artifacts load on threads
    of the loader's own, so a burst of uploads waiting for the compiler never holds up
    the artifact loads that make a restart fast. Use ``async with``: leaving it waits
    for artifacts still on their way to the Writer.
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        metrics: Metrics,
        sealer: ArtifactSealer | None = None,
        compiler: IsolatedCompiler | None = None,
        artifacts: ArtifactSource | None = None,
        store: ArtifactSink | None = None,
    ) -> None:
        self._runtime = runtime
        self._metrics = metrics
        self._sealer = sealer
        self._compiler = compiler
        self._artifacts = artifacts if sealer is not None else None
        self._store = store if sealer is not None else None
        self._storing: set[asyncio.Task[None]] = set()
        self._loading = ThreadPoolExecutor(LOAD_THREADS, thread_name_prefix="wess-artifact")

    async def __aenter__(self) -> ProgramLoader:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Wait for artifacts on their way to the Writer (which is still running)."""
        while self._storing:
            await asyncio.gather(*self._storing)
        await asyncio.to_thread(self._loading.shutdown, wait=True, cancel_futures=True)

    async def prepare(self, wasm: bytes, *, namespace: str, pool: FairPool) -> PreparedModule:
        """Validate and compile an upload to ``namespace``: ``InvalidWasm``,
        ``UnknownImport``, ``CompileLimitExceeded``. When artifacts are kept, the sealed
        artifact is all that is kept (the first run loads it instead of compiling); else
        the program is cached, so its first run compiles nothing."""
        return await pool.call(namespace, self._prepare, wasm)

    async def load(self, record: ModuleRecord, *, pool: FairPool) -> Program:
        """The program of a stored module that is not in the compiled cache."""
        namespace = record.info.namespace
        sealer, source = self._sealer, self._artifacts
        if sealer is None or source is None:
            program, _ = await pool.call(namespace, self._compile, record.wasm, record.digest)
            return program
        restored = await self._restored(record, sealer, source)
        if restored is not None:
            return restored
        program, sealed = await pool.call(
            namespace, self._compile_and_seal, record.wasm, record.digest, sealer
        )
        if self._store is not None:
            task = asyncio.create_task(self._submit(self._store, record.id, sealed))
            self._storing.add(task)
            task.add_done_callback(self._storing.discard)
        return program

    async def restore(self, record: ModuleRecord) -> bool:
        """Load ``record``'s stored artifact into the compiled cache; never compiles.
        False when there is no usable artifact (why is logged and counted)."""
        sealer, source = self._sealer, self._artifacts
        if sealer is None or source is None:
            return False
        return await self._restored(record, sealer, source) is not None

    async def _restored(
        self, record: ModuleRecord, sealer: ArtifactSealer, source: ArtifactSource
    ) -> Program | None:
        try:
            sealed = await source(record.id, record.digest, sealer.flavor)
        except StorageError as exc:  # an artifact only saves time: compile instead
            logger.warning("artifact unreadable", module_id=str(record.id), detail=str(exc))
            sealed = None
        if sealed is None:
            self._count("miss")
            return None
        loop = asyncio.get_running_loop()
        try:
            program = await loop.run_in_executor(
                self._loading, self._open, sealer, sealed, record.digest
            )
        except ArtifactUnusable as exc:
            self._count(exc.outcome)
            logger.warning(
                "artifact unusable; the module compiles again",
                module_id=str(record.id),
                digest=record.digest,
                outcome=exc.outcome,
                reason=exc.reason,
            )
            return None
        self._count("hit")
        return program

    async def _submit(self, store: ArtifactSink, module_id: UUID, sealed: SealedArtifact) -> None:
        try:
            await store(StoreArtifact(module_id=module_id, artifact=sealed))
        except (ModuleNotFound, PreconditionFailed):  # changed meanwhile: nothing to keep
            logger.debug("artifact outdated before it was stored", module_id=str(module_id))
        except WessError as exc:  # the next miss compiles and tries again
            logger.warning("artifact not stored", module_id=str(module_id), detail=str(exc))

    # -- blocking parts, run on the pools ---------------------------------------------------

    def _prepare(self, wasm: bytes) -> PreparedModule:
        digest = digest_of(wasm)
        program = self._runtime.cached(digest)
        sealer = self._sealer
        if sealer is None or self._artifacts is None:  # no artifact will serve a run
            artifact = None
            if program is None:
                program, artifact = self._compile(wasm, digest)
            sealed = None if sealer is None else self._seal(sealer, program, artifact)
            return PreparedModule(program.analysis, sealed)
        # The artifact, stored with the module, serves its first run: an upload keeps
        # nothing in this process (most stored modules are never run, or not soon).
        if program is not None:
            artifact = self._runtime.export(program)
        elif self._compiler is not None:
            artifact = self._isolated(self._compiler, wasm, digest)
        else:
            artifact = self._runtime.export(self._runtime.compile(wasm, digest=digest))
        return PreparedModule(artifact.analysis, sealer.seal(artifact))

    def _isolated(self, compiler: IsolatedCompiler, wasm: bytes, digest: str) -> Artifact:
        start = time.perf_counter()
        artifact = compiler.compile(wasm, digest=digest)
        self._metrics.compile_seconds.observe(time.perf_counter() - start)
        return artifact

    def _compile(self, wasm: bytes, digest: str) -> tuple[Program, Artifact | None]:
        """Compile in the isolated compiler, whose artifact comes with the program, or
        in-process (no artifact until one is exported)."""
        if self._compiler is None:
            return self._runtime.load(wasm, digest=digest), None
        artifact = self._isolated(self._compiler, wasm, digest)
        return self._runtime.restore(artifact), artifact

    def _compile_and_seal(
        self, wasm: bytes, digest: str, sealer: ArtifactSealer
    ) -> tuple[Program, SealedArtifact]:
        program, artifact = self._compile(wasm, digest)
        return program, self._seal(sealer, program, artifact)

    def _seal(
        self, sealer: ArtifactSealer, program: Program, artifact: Artifact | None
    ) -> SealedArtifact:
        return sealer.seal(artifact if artifact is not None else self._runtime.export(program))

    def _open(self, sealer: ArtifactSealer, sealed: SealedArtifact, digest: str) -> Program:
        return self._runtime.restore(sealer.open(sealed, digest=digest))

    def _count(self, outcome: str) -> None:
        self._metrics.artifacts.labels(outcome=outcome).inc()
