"""The Runner: the HTTP server's only path to the runtime, bounded, fair and measured.

Invocations run on their own thread pool (wasmtime releases the GIL while guest code
runs, so they run in parallel); compiles and analyses on a separate small pool, so a
large upload never delays calls. Both pools are shared fairly between namespaces
(``fairness``): a call belongs to its module's namespace, an upload to its caller's;
a namespace holds at most its share of a pool, waiting calls are served namespace by
namespace in turn, and a namespace with its most calls in is refused with
``NamespaceBusy`` while the others go on. At most ``max_pending`` invocations may be
waiting or running at once: one more is refused with ``Overloaded`` straight away;
so are compiles (uploads', and runs' of modules not yet compiled) past
``compile_queue`` across every namespace (``queue="compile"``). The first calls of a
module not yet compiled share one compile (single flight).

A module whose calls keep trapping or timing out is refused at once for a cool-down
(``ModuleBreakers``). A run's ``Deadline`` bounds its compile, its waits for a slot and
a thread, and its execution: the call's time limit is cut to the time left when it
starts (``DeadlineExceeded`` names the layer that ran out).

With tracing on, a compile is a span of the request that started it (requests sharing
it wait without one), and a call two: ``instantiate`` and ``execute``, recorded from
the clock readings of the thread that made the call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from functools import partial
from types import TracebackType

import structlog

from wess.errors import (
    CompileLimitExceeded,
    ExecutionError,
    NamespaceBusy,
    Overloaded,
    WessError,
)
from wess.messages import ModuleChanged
from wess.models import ModuleRecord
from wess.observability.metrics import Metrics
from wess.observability.tracing import NO_SPAN, Tracing
from wess.runtime import Invocation, Limits, ModuleAnalysis, Program, Runtime
from wess.runtime.codec import Number
from wess.runtime.command_io import CommandInput
from wess.runtime.kv import KvAccess
from wess.workers.breakers import ModuleBreakers
from wess.workers.bulkhead import Bulkheads
from wess.workers.calls import (
    call_command,
    call_spans,
    call_values,
    invoke,
    invoke_timed,
    violation_kind,
    with_kv,
)
from wess.workers.deadline import COMPILE, QUEUE, Deadline
from wess.workers.fairness import FairPool, FairShare, after
from wess.workers.inline import InlineLane
from wess.workers.kv import KeyValues
from wess.workers.linking import LinkLookup, link_program
from wess.workers.loader import PreparedModule, ProgramLoader
from wess.workers.outcome import RunOutcome
from wess.workers.pool import COMPILE_WORKERS, COMPILES_QUEUED, fair_share, pool_size
from wess.workers.runtime_metrics import MetricsObserver
from wess.workers.usage import UsageCounter

logger = structlog.get_logger(__name__)

RUNNER_QUEUE = "runner"
POOL = "invoke"
COMPILE_QUEUE = "compile"
NOT_TIMED: list[int] = [0]
"""The start of a call nobody traces: never written."""
NAMESPACE_QUEUE = 64
"""Calls (and compiles) of one namespace waiting beyond its share, by default."""


class Runner:
    """Runs functions of stored modules off the event loop. Use ``async with``.

    ``workers`` invocation threads, at most ``namespace_concurrency`` of them (None:
    ``pool.fair_share``) for one namespace, which may have ``namespace_queue`` more
    calls waiting; ``compile_workers`` compile threads (one per compile worker
    process), shared by ``namespace_compiles`` and ``namespace_compile_queue`` alike,
    with at most ``compile_queue`` compiles in at once; ``breakers`` (None: none) refuse
    modules that keep failing.
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        metrics: Metrics,
        workers: int | None = None,
        max_pending: int = 256,
        compile_workers: int = COMPILE_WORKERS,
        inline_fuel: int = 0,
        module_concurrency: int | None = None,
        module_queue: int = 64,
        namespace_concurrency: int | None = None,
        namespace_queue: int = NAMESPACE_QUEUE,
        namespace_compiles: int | None = None,
        namespace_compile_queue: int = NAMESPACE_QUEUE,
        compile_queue: int = COMPILES_QUEUED,
        programs: ProgramLoader | None = None,
        usage: UsageCounter | None = None,
        breakers: ModuleBreakers | None = None,
        tracing: Tracing | None = None,
        links: LinkLookup | None = None,
        kv: KeyValues | None = None,
    ) -> None:
        self._runtime = runtime
        self._tracing = tracing
        self._kv = kv
        self._metrics = metrics
        pool = pool_size(
            workers=workers,
            module_concurrency=module_concurrency,
            namespace_concurrency=namespace_concurrency,
        )
        self._max_pending = max_pending
        self._compile_queue = compile_queue
        self._compiles = 0
        self._compile_depth = metrics.queue_depth.labels(queue=COMPILE_QUEUE)
        self.breakers = breakers
        """The modules' circuit breakers (None: off)."""
        self._lanes = InlineLane(inline_fuel, metrics)
        self._bulkheads = Bulkheads(concurrency=pool.module_concurrency, queue=module_queue)
        self._pending = 0
        self._observer = MetricsObserver(metrics)
        self._compiling: dict[str, asyncio.Future[Program]] = {}
        self._programs = programs or ProgramLoader(runtime, metrics=metrics)
        self._usage = usage
        self._links = links
        self.invocations = FairShare[asyncio.Future[None]](
            slots=pool.workers,
            share=pool.namespace_concurrency,
            queue=namespace_queue,
            what="calls",
            settings="runner.namespace_concurrency, runner.namespace_queue",
        )
        """Who holds and awaits the invocation threads (read it; the Runner changes it)."""
        self.compiles = FairShare[asyncio.Future[None]](
            slots=compile_workers,
            share=fair_share(compile_workers, namespace_compiles),
            queue=namespace_compile_queue,
            what="compiles",
            settings="limits.namespace_compiles, limits.namespace_compile_queue",
        )
        """Who holds and awaits the compile workers (read it; the Runner changes it)."""
        self._invoke_pool = FairPool(self.invocations, name="run")
        self._compile_pool = FairPool(self.compiles, name="compile")
        self._depth = metrics.queue_depth.labels(queue=RUNNER_QUEUE)
        self._admitted = 0  # calls handed to the invocation pool, not yet freed
        metrics.track_pool(
            POOL, in_flight=lambda: self._admitted, queued=lambda: self._pending - self._admitted
        )

    async def __aenter__(self) -> Runner:
        self._invoke_pool.start()
        self._compile_pool.start()
        self._runtime.observe(self._observer)
        self._depth.set(0)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._runtime.unobserve(self._observer)
        for pool in (self._invoke_pool, self._compile_pool):
            await pool.stop()

    @property
    def limits(self) -> Limits:
        """The runtime's limits now: those of a call that asks for none."""
        return self._runtime.limits

    @property
    def running(self) -> bool:
        return self._invoke_pool.running

    @property
    def pending(self) -> int:
        """Invocations waiting or running now."""
        return self._pending

    @property
    def compiles_in(self) -> int:
        """Compiles (and artifact loads) waiting or running now, every namespace's."""
        return self._compiles

    # -- modules ------------------------------------------------------------------------------

    async def analyze(self, wasm: bytes, *, namespace: str) -> ModuleAnalysis:
        """The functions and imports of an upload; compiles it (see ``prepare``)."""
        return (await self.prepare(wasm, namespace=namespace)).analysis

    async def prepare(
        self, wasm: bytes, *, namespace: str, check: Callable[[bytes], object] | None = None
    ) -> PreparedModule:
        """Validate and compile an upload to ``namespace``, in the isolated compiler when
        the loader has one: its functions and imports, and its sealed artifact when
        artifacts are kept. ``check(wasm)`` (a blocking look at the bytes) runs first, on
        a thread. ``NamespaceBusy`` when the namespace has its most compiles in,
        ``Overloaded`` when every namespace together has ``compile_queue``."""
        pool = self._running(self._compile_pool)
        self._admit_compile()
        try:
            if check is not None:
                await asyncio.to_thread(check, wasm)
            tracing = self._tracing
            with NO_SPAN if tracing is None else tracing.span("compile", {"wess.upload": True}):
                return await self._programs.prepare(wasm, namespace=namespace, pool=pool)
        except CompileLimitExceeded as exc:
            self._violation("compile_limit", exc)
            raise
        except NamespaceBusy:
            self._metrics.queue_rejections.labels(queue="namespace_compiles").inc()
            raise
        finally:
            self._compiled_one()

    async def prewarm(self, record: ModuleRecord) -> bool:
        """Load ``record``'s stored artifact into the compiled cache, never compiling;
        True if the module is compiled (or being loaded) afterwards."""
        if self._runtime.holds(record.digest) or record.digest in self._compiling:
            return True
        return await self._programs.restore(record)

    def on_module_changed(self, event: ModuleChanged) -> None:
        """Forget the compiled module a change replaced or deleted, and the module's
        breaker (the next revision starts afresh)."""
        previous = event.previous_digest
        if previous is not None and previous != event.digest:
            self._runtime.evict(previous)
        if self.breakers is not None:
            self.breakers.forget(event.module_id)

    async def _program(self, record: ModuleRecord, deadline: Deadline | None) -> Program:
        if self._usage is not None:
            self._usage.count(record.id)
        program = self._runtime.cached(record.digest)
        if program is not None:
            return program
        compiling = self._compiling.get(record.digest)
        if compiling is None:  # the stored artifact first, else a compile (see loader)
            pool = self._running(self._compile_pool)
            self._admit_compile()
            loading = self._programs.load(record, pool=pool)
            if self._tracing is not None:  # the task's context is this request's: its child
                loading = self._traced_compile(loading, record)
            compiling = asyncio.ensure_future(loading)
            self._compiling[record.digest] = compiling
            compiling.add_done_callback(partial(self._compiled, record.digest))
        if deadline is None:
            return await asyncio.shield(compiling)
        return await deadline.within(asyncio.shield(compiling), COMPILE)

    async def _traced_compile(self, loading: Awaitable[Program], record: ModuleRecord) -> Program:
        assert self._tracing is not None
        attributes = {"wess.module.id": str(record.id), "wess.module.digest": record.digest}
        with self._tracing.span("compile", attributes):
            return await loading

    def _compiled(self, digest: str, future: asyncio.Future[Program]) -> None:
        self._compiling.pop(digest, None)
        self._compiled_one()
        if not future.cancelled():
            future.exception()  # retrieved here, so no waiter left behind is ever warned

    def _admit_compile(self) -> None:
        """Count a compile in, or refuse it: ``compile_queue`` are in already."""
        if self._compiles >= self._compile_queue:
            self._metrics.queue_rejections.labels(queue=COMPILE_QUEUE).inc()
            raise Overloaded(
                f"{self._compiles} compiles are waiting or running, the most the compile "
                "workers take (limits.compile_queue); retry later",
                retry_after=1,
                queue=COMPILE_QUEUE,
            )
        self._compiles += 1
        self._compile_depth.set(self._compiles)

    def _compiled_one(self) -> None:
        self._compiles -= 1
        self._compile_depth.set(self._compiles)

    # -- invocations --------------------------------------------------------------------------

    async def run(
        self,
        record: ModuleRecord,
        function: str,
        args: Sequence[object],
        *,
        limits: Limits | None = None,
        deadline: Deadline | None = None,
        command: CommandInput | None = None,
    ) -> RunOutcome:
        """Run ``function`` of ``record`` with JSON ``args`` in a fresh sandbox; with a
        ``command``, run ``function`` (a command's ``_start``) with its stdin, argv
        and env instead (on the pool, never inline).

        ``limits`` may only lower the runtime's (``InvalidRequest`` otherwise). Raises
        ``ModuleCircuitOpen`` at once while the module cools down, ``Overloaded`` when
        ``max_pending`` invocations are already in, ``NamespaceBusy`` when the module's
        namespace has its most calls in, and ``DeadlineExceeded`` when ``deadline``
        passes first (the call's time limit is never longer than the time left).
        """
        pool = self._running(self._invoke_pool)
        breakers = self.breakers
        if breakers is not None:
            breakers.admit(record.id)
        namespace = record.info.namespace
        submitted: Future[tuple[Invocation | WessError, float]] | None = None
        admitted = entered = False
        tracing = self._tracing
        # the call's start, ns since the epoch: its spans' start (written only when tracing)
        started = NOT_TIMED if tracing is None else [0]
        try:
            self._admit_call(namespace)
            entered = True
            program = self._runtime.cached(record.digest)
            if program is None:
                program = await self._program(record, deadline)
            elif self._usage is not None:
                self._usage.count(record.id)
            if program.analysis.links:
                program = await link_program(
                    program,
                    record,
                    deadline,
                    (record.id,),
                    lookup=self._links,
                    runtime=self._runtime,
                    load=self._program,
                )
            target = program.function(function)
            values: Sequence[Number] = ()
            if command is None:
                values = target.decode(args)
            ceiling = self._runtime.limits
            applied = ceiling if limits is None or limits is ceiling else limits.within(ceiling)
            attempt = None
            if command is None and target.call_path == "fast":  # the inline lane takes only these
                if deadline is not None and deadline.remaining_ms() < 1:
                    raise deadline.exceeded(QUEUE)
                # Its fuel budget ends an inline attempt within tens of microseconds,
                # inside the millisecond left: no need to cut its time limit (a call
                # that needs more moves to the pool, where it is cut).
                if tracing is not None:
                    started[0] = time.time_ns()
                attempt = self._lanes.attempt(record.digest, target, values, applied)
            if attempt is not None:
                result, seconds = attempt
            else:
                await self._bulkheads.acquire(record.id, deadline=deadline)
                admitted = True
                self._admitted += 1
                call: Callable[[Limits], Invocation] = (
                    partial(call_values, target, values)
                    if command is None
                    else partial(call_command, target, command)
                )
                kv = self._kv_access(program, namespace)
                if kv is not None:
                    call = partial(with_kv, self._runtime.kv, kv, call)
                job = (
                    partial(invoke, call, applied, deadline)
                    if tracing is None
                    else partial(invoke_timed, started, call, applied, deadline)
                )
                submitted = await pool.submit(namespace, job, deadline=deadline)
                result, seconds = await asyncio.wrap_future(submitted)
        except BaseException:
            if breakers is not None:  # no verdict on the module
                breakers.released(record.id)
            raise
        finally:
            if entered:  # now, or when the guest really stops if the caller gave up
                module = record.id if admitted else None
                after(submitted, partial(self._free, namespace, module, submitted is not None))
        outcome = "ok" if isinstance(result, Invocation) else result.code
        fuel = result.fuel_used if isinstance(result, Invocation) else None
        self._metrics.invocations.observe(record.info, function, outcome, seconds, fuel)
        if tracing is not None:
            call_spans(tracing, result, function, start_ns=started[0], seconds=seconds)
        if not isinstance(result, Invocation):
            if isinstance(result, ExecutionError):
                self._violation(violation_kind(result), result, module_id=str(record.id))
                if breakers is not None:
                    breakers.failed(record.id, result)
            elif breakers is not None:
                breakers.released(record.id)
            raise result
        if breakers is not None:
            breakers.succeeded(record.id)
        return RunOutcome(
            results=result.results,
            function=function,
            duration_us=result.duration_us,
            fuel_used=result.fuel_used,
            stdout=result.stdout,
            stderr=result.stderr,
            output_truncated=result.output_truncated,
            exit_code=result.exit_code,
            stdout_truncated=result.stdout_truncated,
            stderr_truncated=result.stderr_truncated,
            logs=result.logs,
            logs_dropped=result.logs_dropped,
            revision=record.info.revision,
        )

    def _kv_access(self, program: Program, namespace: str) -> KvAccess | None:
        """The ``wess:kv@1`` store of a call of ``program`` in ``namespace`` (None: the
        module does not import it); its calls answer ``UNAVAILABLE`` without ``kv``."""
        if self._kv is None or not program.analysis.uses_kv:
            return None
        return self._kv.access(namespace, asyncio.get_running_loop())

    def _admit_call(self, namespace: str) -> None:
        """Count a call in: ``Overloaded`` past ``max_pending`` calls in all,
        ``NamespaceBusy`` past the namespace's share and queue."""
        if self._pending >= self._max_pending:
            self._metrics.queue_rejections.labels(queue=RUNNER_QUEUE).inc()
            raise Overloaded(
                f"{self._pending} invocations are waiting or running, the most the runner "
                f"takes; retry later",
                retry_after=1,
                queue=RUNNER_QUEUE,
            )
        try:
            self.invocations.enter(namespace)
        except NamespaceBusy:
            self._metrics.queue_rejections.labels(queue="namespace_calls").inc()
            raise
        self._acquire()

    def _violation(self, kind: str, error: WessError, **context: str) -> None:
        """A guest stopped by the sandbox: counted and logged as a security event."""
        self._metrics.sandbox_violations.labels(kind=kind).inc()
        logger.info("sandbox violation", kind=kind, code=error.code, detail=error.detail, **context)

    def _free(self, namespace: str, module: object | None, threaded: bool) -> None:
        if threaded:
            self._invoke_pool.release(namespace)
        if module is not None:
            self._bulkheads.release(module)
            self._admitted -= 1
        self.invocations.leave(namespace)
        self._release()

    def _acquire(self) -> None:
        self._pending += 1
        self._depth.set(self._pending)

    def _release(self) -> None:
        self._pending -= 1
        self._depth.set(self._pending)

    def _running(self, pool: FairPool) -> FairPool:
        if not pool.running:
            raise RuntimeError("the runner is not running; use `async with runner:`")
        return pool
