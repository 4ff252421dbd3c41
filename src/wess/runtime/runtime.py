"""The Runtime: one engine, one linker, one epoch ticker and the compiled-module cache.

``load`` validates, analyses and compiles a module once per digest (concurrent loads
of the same digest compile it once) and hands out ``Program``s; ``restore`` does the
same from an AOT artifact and ``export`` makes one; ``compile`` makes a Program the
cache does not keep; ``close`` stops the ticker.
Nothing here knows HTTP, storage or metrics: events go to an optional
``RuntimeObserver``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import replace
from functools import partial
from types import MappingProxyType, TracebackType
from typing import cast

from wess.errors import InvalidWasm, LinkError
from wess.models import FunctionSignature, digest_of
from wess.runtime.analysis import ModuleAnalysis
from wess.runtime.artifact import Artifact, ArtifactUnusable, flavor_of
from wess.runtime.clocks import GuestClock
from wess.runtime.codec import encoder_for
from wess.runtime.compiled import Compiled, CompiledModuleCache
from wess.runtime.compiling import FUNCTION_OVERHEAD, artifact_of, compile_wasm, restore
from wess.runtime.component import (
    CompiledComponent,
    ComponentApi,
    ComponentCaller,
    build_component_linker,
    compile_component,
    component_artifact,
    restore_component,
)
from wess.runtime.engine import EpochTicker, RuntimeConfig, build_engine
from wess.runtime.fastcall import FastPath
from wess.runtime.guestio import CallSlot
from wess.runtime.host import build_linker, random_i32
from wess.runtime.invocation import Budgets, Caller
from wess.runtime.kv import KvSlot
from wess.runtime.limits import Limits
from wess.runtime.observer import ObserverGroup, RuntimeObserver
from wess.runtime.program import Program, RuntimeState
from wess.runtime.sandbox import Linkable, Sandbox
from wess.runtime.wasmbin import is_component


class Runtime:
    """Loads WebAssembly modules and runs their functions, sandboxed and metered.

    ``limits`` apply to every call unless a call passes its own; ``config`` shapes the
    engine and the cache; ``observer`` hears about compiles and the cache; ``random``
    backs ``env.randomi32``. Use as a context manager, or call ``close``.
    """

    def __init__(
        self,
        *,
        limits: Limits | None = None,
        config: RuntimeConfig | None = None,
        observer: RuntimeObserver | None = None,
        random: Callable[[], int] = random_i32,
    ) -> None:
        self.config = config if config is not None else RuntimeConfig()
        self._observer = ObserverGroup(*([observer] if observer is not None else []))
        self._engine = build_engine(self.config)
        clock = GuestClock(self.config.clock_resolution_ns)
        calls = CallSlot()
        self.kv = KvSlot()
        """Each thread's ``wess:kv@1`` store: set around a call of a module using it."""
        self._linker = build_linker(
            self._engine, random=random, clock=clock, calls=calls, kv=self.kv
        )
        new_linker = partial(
            build_linker, self._engine, random=random, clock=clock, calls=calls, kv=self.kv
        )
        self._component_linker = build_component_linker(self._engine)
        self._component_api = ComponentApi()
        self._ticker = EpochTicker(self._engine, tick_ms=self.config.epoch_tick_ms)
        self._budgets = Budgets(self._ticker)
        self._sandbox = Sandbox(self._engine, self._budgets, calls, new_linker=new_linker)
        self._fast = FastPath(self._engine, self._budgets) if self.config.fast_path else None
        self._cache: CompiledModuleCache[Program] = CompiledModuleCache(
            self.config.cache_bytes, self._observer, max_entries=self.config.cache_entries
        )
        self._state = RuntimeState(limits if limits is not None else Limits())
        self._flavor = flavor_of(self.config)
        self._lock = threading.Lock()
        self._loading: dict[str, Future[Program]] = {}
        self._ticker.start()

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> Runtime:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Refuse new calls, interrupt calls still running, stop the ticker; idempotent."""
        with self._lock:
            if self._state.closed:
                return
            self._state.closed = True
        for _ in range(self._budgets.longest + 1):
            self._engine.increment_epoch()
        self._ticker.stop()
        self._cache.clear()

    @property
    def limits(self) -> Limits:
        """The limits of every call that passes none of its own."""
        return self._state.limits

    @limits.setter
    def limits(self, limits: Limits) -> None:
        """New default limits, for the calls that start from now on."""
        self._state.limits = limits

    def resize_cache(self, cache_bytes: int | None, *, cache_entries: int | None = None) -> None:
        """Bound the compiled-module cache anew; modules leave at once to fit."""
        self.config = replace(self.config, cache_bytes=cache_bytes, cache_entries=cache_entries)
        self._cache.resize(cache_bytes, max_entries=cache_entries)

    def observe(self, observer: RuntimeObserver) -> None:
        """Also report compiles and cache events to ``observer``."""
        self._observer.add(observer)

    def unobserve(self, observer: RuntimeObserver) -> None:
        self._observer.remove(observer)

    @property
    def closed(self) -> bool:
        return self._state.closed

    @property
    def ticking(self) -> bool:
        """Whether the epoch ticker thread is alive."""
        return self._ticker.alive

    # -- modules ------------------------------------------------------------------------------

    def analyze(self, wasm: bytes) -> ModuleAnalysis:
        """The callable functions and imports of ``wasm``, which is loaded (and cached)
        on the way: ``InvalidWasm``, ``UnknownImport``, ``CompileLimitExceeded``."""
        return self.load(wasm).analysis

    def load(self, wasm: bytes, *, digest: str | None = None) -> Program:
        """The Program for ``wasm``, compiled at most once per digest.

        ``digest`` may be passed when the caller already knows it (``models.digest_of``
        of these bytes), to skip hashing.
        """
        wasm = self._accept(wasm)
        digest = digest if digest is not None else digest_of(wasm)
        program = self.cached(digest)
        if program is not None:
            return program

        def build() -> Program:
            self._observer.cache_miss()
            return self._compile(wasm, digest)

        return self._once(digest, build)

    def compile(self, wasm: bytes, *, digest: str | None = None) -> Program:
        """A Program for ``wasm`` that the cache does not hold: compiled afresh, and
        freed once the caller lets go of it. For a caller that keeps the module's
        artifact rather than its program (``export``), such as an upload whose artifact
        is stored and serves the first run."""
        wasm = self._accept(wasm)
        return self._compile(wasm, digest if digest is not None else digest_of(wasm))

    def restore(self, artifact: Artifact) -> Program:
        """The Program of a trusted ``artifact`` (compiled by Wess, or opened by an
        ``ArtifactSealer``), cached like a compiled one and identical in behaviour.

        Raises ``ArtifactUnusable("stale")`` for an artifact of another flavor or one
        this wasmtime refuses.
        """
        if self._state.closed:
            raise RuntimeError("the runtime is closed")
        if artifact.flavor != self.flavor:
            raise ArtifactUnusable("stale", f"artifact of flavor {artifact.flavor}")
        program = self._cache.get(artifact.digest)
        if program is not None:
            return program
        return self._once(artifact.digest, lambda: self._restore(artifact))

    def link(self, program: Program, links: Mapping[str, Program]) -> Program:
        """``program`` with the programs of the modules it links (by the name its
        imports use: ``adder``, ``adder@prod``), each linked already if it links others.
        Every call instantiates them in the call's own Store, so the call's limits
        cover the whole chain. Not cached: the links a name resolves to may change."""
        missing = [ref for ref in program.analysis.links if ref not in links]
        if missing:
            raise ValueError(f"links not given: {', '.join(missing)}")
        if isinstance(program.compiled, CompiledComponent) or any(
            isinstance(target.compiled, CompiledComponent) for target in links.values()
        ):
            raise LinkError("components neither link other modules nor are linked")
        frozen = MappingProxyType(dict(links))
        # checked above: no component among them, so each is a Linkable
        linkable = cast(Mapping[str, Linkable], frozen)

        def caller(compiled: Compiled | CompiledComponent, signature: FunctionSignature) -> Caller:
            assert isinstance(compiled, Compiled)
            encode = encoder_for(signature)
            return self._sandbox.caller(compiled, signature, encode, links=linkable)

        linked = Program(program.compiled, caller, self._state)
        linked.links = frozen
        return linked

    def export(self, program: Program) -> Artifact:
        """``program`` as an artifact of this runtime's flavor (``Module.serialize``)."""
        compiled = program.compiled
        if isinstance(compiled, CompiledComponent):
            return component_artifact(compiled, flavor=self.flavor)
        return artifact_of(compiled, flavor=self.flavor)

    @property
    def flavor(self) -> str:
        """What decides the code this runtime generates; see ``artifact.flavor_of``."""
        return self._flavor

    def _once(self, digest: str, build: Callable[[], Program]) -> Program:
        """``build`` the Program of ``digest`` and cache it; concurrent callers wait
        for the one build in progress (single flight)."""
        with self._lock:
            program = self._cache.get(digest)
            if program is not None:
                return program
            loading = self._loading.get(digest)
            owner = loading is None
            if loading is None:
                loading = self._loading[digest] = Future()
        if not owner:
            return loading.result()
        try:
            program = build()
            self._cache.put(digest, program, program.compiled.size)
            loading.set_result(program)
            return program
        except BaseException as exc:
            loading.set_exception(exc)
            raise
        finally:
            with self._lock:
                del self._loading[digest]

    def cached(self, digest: str) -> Program | None:
        """The Program for ``digest`` if it is compiled and cached (counted as a hit)."""
        program = self._cache.get(digest)
        if program is not None:
            self._observer.cache_hit()
        return program

    def holds(self, digest: str) -> bool:
        """Whether the compiled module of ``digest`` is cached (not counted as a lookup)."""
        return digest in self._cache

    def evict(self, digest: str) -> bool:
        """Forget the compiled module of ``digest``; calls holding it finish normally."""
        return self._cache.discard(digest)

    # -- compiling ----------------------------------------------------------------------------

    def _accept(self, wasm: object) -> bytes:
        if self._state.closed:
            raise RuntimeError("the runtime is closed")
        if not isinstance(wasm, (bytes, bytearray, memoryview)):
            raise InvalidWasm(f"a module must be bytes, got {type(wasm).__name__}")
        return bytes(wasm)

    def _compile(self, wasm: bytes, digest: str) -> Program:
        start = time.perf_counter()
        compiled: Compiled | CompiledComponent
        if is_component(wasm):
            compiled = compile_component(
                self._engine, wasm, digest=digest, max_bytes=self.config.max_module_bytes
            )
        else:
            compiled = compile_wasm(
                self._engine,
                self._linker,
                wasm,
                digest=digest,
                max_module_bytes=self.config.max_module_bytes,
            )
        self._observer.compiled(digest, time.perf_counter() - start)
        return self._program(compiled)

    def _restore(self, artifact: Artifact) -> Program:
        compiled: Compiled | CompiledComponent
        if artifact.analysis.component:
            compiled = restore_component(self._engine, artifact)
        else:
            compiled = restore(self._engine, self._linker, artifact)
        self._observer.cache_miss()  # counted once it is known no compile follows
        return self._program(compiled)

    def _program(self, compiled: Compiled | CompiledComponent) -> Program:
        return Program(compiled, self._caller, self._state, on_function=self._function_made)

    def _function_made(self, program: Program) -> None:
        """A function's caller holds memory too: counted while its program is cached."""
        self._cache.grow(program.digest, program, FUNCTION_OVERHEAD)

    def _caller(
        self, compiled: Compiled | CompiledComponent, signature: FunctionSignature
    ) -> Caller:
        if isinstance(compiled, CompiledComponent):
            return ComponentCaller(
                self._engine,
                self._component_linker,
                self._budgets,
                compiled,
                signature,
                instances=self.config.max_component_instances,
                api=self._component_api,
            )
        encode = encoder_for(signature)
        if self._fast is not None:
            caller = self._fast.caller(compiled, signature, encode)
            if caller is not None:
                return caller
        return self._sandbox.caller(compiled, signature, encode)
