"""Turning bytes into a ``Compiled`` module: from wasm (compile) or from an artifact.

Plain functions of an engine and a linker, so the same code runs in the Runtime and in
an isolated compile process (``isolated``). ``compile_wasm`` validates, analyses,
rewrites (``growguard``), compiles and links; ``restore`` links a deserialized image
with the analysis stored beside it, so both give a ``Compiled`` that behaves the same.
"""

from __future__ import annotations

import ctypes
import mmap
import re

import wasmtime
from wasmtime import _ffi as ffi

from wess.errors import CompileLimitExceeded, InvalidWasm, UnknownImport
from wess.runtime.analysis import analyze_layout, unknown_import
from wess.runtime.artifact import Artifact, ArtifactUnusable
from wess.runtime.compiled import Compiled
from wess.runtime.growguard import guard
from wess.runtime.layout import Layout, read_layout
from wess.runtime.reasons import reason_of
from wess.runtime.wasmbin import Unsupported

IMPORT_IN_MESSAGE = re.compile(r"`([^`]*)::([^`]*)`")
PAGE = mmap.PAGESIZE
MODULE_OVERHEAD = 6 << 10
"""Bytes a loaded module holds besides its code image: wasmtime's metadata (about
3.5 KiB for a small module), the ``InstancePre`` and the ``Program``, with the
allocator's share; from the RSS growth per module over thousands of modules."""
FUNCTION_OVERHEAD = 2 << 10
"""Bytes a function holds once first called: its ``Function``, argument decoder and
caller (about 1.6 KiB on the Python heap), with the allocator's share."""


def compile_wasm(
    engine: wasmtime.Engine,
    linker: wasmtime.Linker,
    wasm: bytes,
    *,
    digest: str,
    max_module_bytes: int,
) -> Compiled:
    """``wasm`` compiled and linked: ``InvalidWasm``, ``UnknownImport`` or
    ``CompileLimitExceeded`` when it cannot be."""
    if len(wasm) > max_module_bytes:
        raise CompileLimitExceeded(
            f"the module is {len(wasm)} bytes; the runtime compiles at most {max_module_bytes}",
            limit=max_module_bytes,
        )
    try:
        wasmtime.Module.validate(engine, wasm)
    except wasmtime.WasmtimeError as exc:
        reason = reason_of(str(exc))
        raise InvalidWasm(f"invalid WebAssembly module: {reason}", reason=reason) from None
    try:
        layout = read_layout(wasm)
    except Unsupported as exc:
        raise InvalidWasm(f"Wess cannot read this module: {exc}") from None
    analysis = analyze_layout(layout)
    guarded = guard(wasm, layout)
    module, patched = _compile_module(engine, guarded.wasm, wasm)
    try:
        pre = None if analysis.links else linker.instantiate_pre(module)
    except wasmtime.WasmtimeError as exc:
        raise _link_error(str(exc), layout) from None
    return Compiled(
        digest=digest,
        module=module,
        pre=pre,
        analysis=analysis,
        footprint=guarded.footprint,
        guarded=patched,
        exports=frozenset(name for name, _, _ in layout.exports),
        wasm_size=len(wasm),
        size=resident_size(module),
    )


def restore(engine: wasmtime.Engine, linker: wasmtime.Linker, artifact: Artifact) -> Compiled:
    """The module of a trusted ``artifact`` (one Wess compiled, or whose seal it
    checked), linked; ``ArtifactUnusable("stale")`` if this wasmtime refuses it."""
    try:
        module = wasmtime.Module.deserialize(engine, artifact.image)
        pre = None if artifact.analysis.links else linker.instantiate_pre(module)
    except wasmtime.WasmtimeError as exc:
        raise ArtifactUnusable("stale", f"wasmtime refused the artifact: {exc}") from None
    return Compiled(
        digest=artifact.digest,
        module=module,
        pre=pre,
        analysis=artifact.analysis,
        footprint=artifact.footprint,
        guarded=artifact.guarded,
        exports=artifact.exports,
        wasm_size=artifact.wasm_size,
        size=resident_size(module),
    )


def artifact_of(compiled: Compiled, *, flavor: str) -> Artifact:
    """``compiled`` as an artifact of ``flavor`` (the flavor of the engine that built it)."""
    return Artifact(
        digest=compiled.digest,
        flavor=flavor,
        image=bytes(compiled.module.serialize()),
        analysis=compiled.analysis,
        footprint=compiled.footprint,
        guarded=compiled.guarded,
        exports=compiled.exports,
        wasm_size=compiled.wasm_size,
    )


def _compile_module(
    engine: wasmtime.Engine, wasm: bytes, original: bytes
) -> tuple[wasmtime.Module, bool]:
    """The compiled module, and whether it is the patched one; should patching ever
    produce something wasmtime refuses, the original compiles instead."""
    try:
        return wasmtime.Module(engine, wasm), wasm is not original
    except wasmtime.WasmtimeError as exc:
        if wasm is not original:
            return _compile_module(engine, original, original)
        reason = reason_of(str(exc))
        raise CompileLimitExceeded(
            f"the module could not be compiled: {reason}", reason=reason
        ) from None


def _link_error(message: str, layout: Layout) -> UnknownImport:
    reason = reason_of(message)
    match = IMPORT_IN_MESSAGE.search(message)
    if match is not None:
        for item in layout.imports:
            if (item.module, item.name) == match.groups():
                return unknown_import(item, reason)
    return UnknownImport(f"the module's imports cannot be provided: {reason}")


def resident_size(module: wasmtime.Module) -> int:
    """The memory a loaded module holds, as the compiled-module cache counts it: its
    code image, mapped whole in pages and resident, and ``MODULE_OVERHEAD``. The wasm
    bytes are not kept, so not counted; each function's caller is counted once made
    (``FUNCTION_OVERHEAD``)."""
    pages = -(-_image_size(module) // PAGE)
    return pages * PAGE + MODULE_OVERHEAD


def _image_size(module: wasmtime.Module) -> int:
    start, end = ctypes.c_void_p(), ctypes.c_void_p()
    ffi.wasmtime_module_image_range(module.ptr(), ctypes.byref(start), ctypes.byref(end))
    return max((end.value or 0) - (start.value or 0), 0)
