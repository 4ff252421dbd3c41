"""The Runtime: one engine, one linker, one epoch ticker and the compiled-module cache.

``load`` validates, analyses and compiles a module once per digest (concurrent loads
of the same digest compile it once) and hands out ``Program``s; ``close`` stops the
ticker. Nothing here knows HTTP, storage or metrics: events go to an optional
``RuntimeObserver``.
"""

from __future__ import annotations

import ctypes
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from types import TracebackType

import wasmtime
from wasmtime import _ffi as ffi

from wess.errors import CompileLimitExceeded, InvalidWasm, UnknownImport
from wess.models import FunctionSignature, digest_of
from wess.runtime.analysis import ModuleAnalysis, analyze_layout, unknown_import
from wess.runtime.codec import encoder_for
from wess.runtime.compiled import Compiled, CompiledModuleCache
from wess.runtime.engine import EpochTicker, RuntimeConfig, build_engine
from wess.runtime.fastcall import FastPath
from wess.runtime.growguard import guard
from wess.runtime.host import build_linker, random_i32
from wess.runtime.invocation import Budgets, Caller
from wess.runtime.layout import Layout, read_layout
from wess.runtime.limits import Limits
from wess.runtime.observer import ObserverGroup, RuntimeObserver
from wess.runtime.program import Program, RuntimeState
from wess.runtime.sandbox import Sandbox
from wess.runtime.traps import reason_of
from wess.runtime.wasmbin import Unsupported

IMPORT_IN_MESSAGE = re.compile(r"`([^`]*)::([^`]*)`")


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
        self.limits = limits if limits is not None else Limits()
        self.config = config if config is not None else RuntimeConfig()
        self._observer = ObserverGroup(*([observer] if observer is not None else []))
        self._engine = build_engine(self.config)
        self._linker = build_linker(self._engine, random=random)
        self._ticker = EpochTicker(self._engine, tick_ms=self.config.epoch_tick_ms)
        self._budgets = Budgets(self._ticker)
        self._sandbox = Sandbox(self._engine, self._budgets)
        self._fast = FastPath(self._engine, self._budgets) if self.config.fast_path else None
        self._cache: CompiledModuleCache[Program] = CompiledModuleCache(
            self.config.cache_bytes, self._observer
        )
        self._state = RuntimeState(self.limits)
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
        if self._state.closed:
            raise RuntimeError("the runtime is closed")
        if not isinstance(wasm, (bytes, bytearray, memoryview)):
            raise InvalidWasm(f"a module must be bytes, got {type(wasm).__name__}")
        wasm = bytes(wasm)
        digest = digest if digest is not None else digest_of(wasm)
        program = self.cached(digest)
        if program is not None:
            return program
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
            self._observer.cache_miss()
            program = self._compile(wasm, digest)
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

    def evict(self, digest: str) -> bool:
        """Forget the compiled module of ``digest``; calls holding it finish normally."""
        return self._cache.discard(digest)

    # -- compiling ----------------------------------------------------------------------------

    def _compile(self, wasm: bytes, digest: str) -> Program:
        if len(wasm) > self.config.max_module_bytes:
            raise CompileLimitExceeded(
                f"the module is {len(wasm)} bytes; the runtime compiles at most "
                f"{self.config.max_module_bytes}",
                limit=self.config.max_module_bytes,
            )
        start = time.perf_counter()
        try:
            wasmtime.Module.validate(self._engine, wasm)
        except wasmtime.WasmtimeError as exc:
            reason = reason_of(str(exc))
            raise InvalidWasm(f"invalid WebAssembly module: {reason}", reason=reason) from None
        try:
            layout = read_layout(wasm)
        except Unsupported as exc:
            raise InvalidWasm(f"Wess cannot read this module: {exc}") from None
        analysis = analyze_layout(layout)
        guarded = guard(wasm, layout)
        module, patched = self._compile_module(guarded.wasm, wasm)
        try:
            pre = self._linker.instantiate_pre(module)
        except wasmtime.WasmtimeError as exc:
            raise _link_error(str(exc), layout) from None
        compiled = Compiled(
            digest=digest,
            module=module,
            pre=pre,
            analysis=analysis,
            footprint=guarded.footprint,
            guarded=patched,
            exports=frozenset(name for name, _, _ in layout.exports),
            size=_image_size(module) + len(wasm),
        )
        self._observer.compiled(digest, time.perf_counter() - start)
        return Program(compiled, self._caller, self._state)

    def _compile_module(self, wasm: bytes, original: bytes) -> tuple[wasmtime.Module, bool]:
        """The compiled module, and whether it is the patched one; should patching ever
        produce something wasmtime refuses, the original compiles instead."""
        try:
            return wasmtime.Module(self._engine, wasm), wasm is not original
        except wasmtime.WasmtimeError as exc:
            if wasm is not original:
                return self._compile_module(original, original)
            reason = reason_of(str(exc))
            raise CompileLimitExceeded(
                f"the module could not be compiled: {reason}", reason=reason
            ) from None

    def _caller(self, compiled: Compiled, signature: FunctionSignature) -> Caller:
        encode = encoder_for(signature)
        if self._fast is not None:
            caller = self._fast.caller(compiled, signature, encode)
            if caller is not None:
                return caller
        return self._sandbox.caller(compiled, signature, encode)


def _link_error(message: str, layout: Layout) -> UnknownImport:
    reason = reason_of(message)
    match = IMPORT_IN_MESSAGE.search(message)
    if match is not None:
        for item in layout.imports:
            if (item.module, item.name) == match.groups():
                return unknown_import(item, reason)
    return UnknownImport(f"the module's imports cannot be provided: {reason}")


def _image_size(module: wasmtime.Module) -> int:
    start, end = ctypes.c_void_p(), ctypes.c_void_p()
    ffi.wasmtime_module_image_range(module.ptr(), ctypes.byref(start), ctypes.byref(end))
    return max((end.value or 0) - (start.value or 0), 0)
