"""WebAssembly components (the component model, WASI 0.2): compiled, analysed and called.

A component is told from a core module by the layer field of its header. It compiles
to a ``CompiledComponent`` whose catalogue lists every exported function (top-level,
or ``namespace:package/interface#function`` inside an exported WIT interface) whose
values can cross JSON (``component_types.callable_type``), each with its WIT type.
Its imports must be WASI 0.2 interfaces (``wasi:io``, ``clocks``, ``random``, ``cli``,
``filesystem``, ``sockets``), which the component linker provides with nothing granted: no
preopened directory, no network, no environment, an empty stdin, stdout and stderr
captured like a WASI module's.

Every call gets a fresh Store with the call's limits (memory, tables, instances,
fuel, epoch deadline) and a fresh instance, as core modules do. The call itself goes
through wasmtime's C API with the function's parameter and result types read once
(``wasmtime.component.Func.__call__`` reads them again on every call); a component
without imports also gets its Store, limits and instance through the C API directly
(``ComponentApi``), as ``fastcall`` does for core modules, while one importing WASI
gets a wasmtime-py Store, which carries the WASI context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import wasmtime
from wasmtime import component as wc

from wess.errors import CompileLimitExceeded, InvalidWasm, UnknownImport
from wess.models import FunctionSignature
from wess.runtime.analysis import COMMAND_ENTRY, ModuleAnalysis
from wess.runtime.artifact import Artifact, ArtifactUnusable
from wess.runtime.component_types import callable_type, func_wit
from wess.runtime.growguard import Footprint
from wess.runtime.reasons import reason_of

WASI_IMPORT = re.compile(r"^wasi:(io|clocks|random|cli|filesystem|sockets)/[a-z0-9-]+@0\.2\.\d+$")
PROVIDED = (
    "Wess provides the WASI 0.2 interfaces of wasi:io, wasi:clocks, wasi:random, wasi:cli, "
    "wasi:filesystem and wasi:sockets (with no directory and no network granted)"
)
INTERFACE_SEPARATOR = "#"
COMMAND_EXPORT = re.compile(r"^wasi:cli/run@0\.2\.\d+$")
INTERFACE_NAME = re.compile(r"^[a-z0-9-]+:[a-z0-9-]+/[a-z0-9-]+(@[0-9a-z.+-]+)?$")
"""An exported interface in WIT's ``namespace:package/interface@version`` form; plain
instance exports (componentize-py's own ``exports``, with its ``init``) are not listed."""
IMAGE_PER_WASM_BYTE = 2
"""A compiled component's image is about twice its wasm (18 MB -> 33 MB measured)."""
COMPONENT_OVERHEAD = 64 << 10
NO_FOOTPRINT = Footprint(memory_pages=(), table_elements=())
NO_STORE: Any = None
"""wasmtime-py's value conversions read the store for resources only, which Wess never
passes (``component_types.callable_type``)."""
TRAP_MESSAGES: tuple[tuple[str, wasmtime.TrapCode], ...] = (
    ("all fuel consumed", wasmtime.TrapCode.OUT_OF_FUEL),
    ("wasm trap: interrupt", wasmtime.TrapCode.INTERRUPT),
    ("`unreachable` instruction executed", wasmtime.TrapCode.UNREACHABLE),
    ("call stack exhausted", wasmtime.TrapCode.STACK_OVERFLOW),
    ("out of bounds memory access", wasmtime.TrapCode.MEMORY_OUT_OF_BOUNDS),
    ("integer divide by zero", wasmtime.TrapCode.INTEGER_DIVISION_BY_ZERO),
    ("integer overflow", wasmtime.TrapCode.INTEGER_OVERFLOW),
    ("undefined element", wasmtime.TrapCode.TABLE_OUT_OF_BOUNDS),
    ("uninitialized element", wasmtime.TrapCode.INDIRECT_CALL_TO_NULL),
    ("indirect call type mismatch", wasmtime.TrapCode.BAD_SIGNATURE),
    ("invalid conversion to integer", wasmtime.TrapCode.BAD_CONVERSION_TO_INTEGER),
)


@dataclass(frozen=True, slots=True, eq=False)
class CompiledComponent:
    """A component compiled once: what its calls need (see ``compiled.Compiled``)."""

    digest: str
    component: wc.Component
    analysis: ModuleAnalysis
    exports: frozenset[str]
    wasm_size: int
    size: int


def build_component_linker(engine: wasmtime.Engine) -> wc.Linker:
    """The component linker of a Runtime: WASI 0.2, shared by every call."""
    linker = wc.Linker(engine)
    linker.add_wasip2()
    return linker


def compile_component(
    engine: wasmtime.Engine, wasm: bytes, *, digest: str, max_bytes: int
) -> CompiledComponent:
    """``wasm`` compiled and analysed: ``InvalidWasm``, ``UnknownImport`` or
    ``CompileLimitExceeded`` when it cannot be."""
    if len(wasm) > max_bytes:
        raise CompileLimitExceeded(
            f"the component is {len(wasm)} bytes; the runtime compiles at most {max_bytes}",
            limit=max_bytes,
        )
    try:
        component = wc.Component(engine, wasm)
    except wasmtime.WasmtimeError as exc:
        reason = reason_of(str(exc))
        raise InvalidWasm(f"invalid WebAssembly component: {reason}", reason=reason) from None
    analysis, exports = analyze_component(engine, component)
    return CompiledComponent(
        digest=digest,
        component=component,
        analysis=analysis,
        exports=exports,
        wasm_size=len(wasm),
        size=len(wasm) * IMAGE_PER_WASM_BYTE + COMPONENT_OVERHEAD,
    )


def analyze_component(
    engine: wasmtime.Engine, component: wc.Component
) -> tuple[ModuleAnalysis, frozenset[str]]:
    """The catalogue and imports of ``component`` and every export name; raises
    ``UnknownImport`` for an import Wess does not provide."""
    ty = component.type
    imports = tuple(ty.imports(engine))
    for name in imports:
        if WASI_IMPORT.match(name) is None:
            raise UnknownImport(
                f"the component imports {name}, which Wess does not provide: {PROVIDED}",
                import_name=name,
                import_type="interface",
            )
    functions: list[FunctionSignature] = []
    exports: set[str] = set()
    for name, item in ty.exports(engine).items():
        exported = item.ty
        if isinstance(exported, wc.FuncType):
            exports.add(name)
            if callable_type(exported):
                functions.append(_signature(name, exported))
        elif isinstance(exported, wc.ComponentInstanceType) and INTERFACE_NAME.match(name):
            for inner, inner_item in exported.exports(engine).items():
                inner_type = inner_item.ty
                if isinstance(inner_type, wc.FuncType) and _command_run(name, inner):
                    exports.add(COMMAND_ENTRY)
                    functions.append(_signature(COMMAND_ENTRY, inner_type))
                elif isinstance(inner_type, wc.FuncType):
                    full = f"{name}{INTERFACE_SEPARATOR}{inner}"
                    exports.add(full)
                    if callable_type(inner_type):
                        functions.append(_signature(full, inner_type))
    analysis = ModuleAnalysis(functions=tuple(functions), imports=imports, component=True)
    return analysis, frozenset(exports)


def _command_run(interface: str, function: str) -> bool:
    """Whether this is a command's entry point, ``wasi:cli/run@0.2.x#run``: listed and
    run as a command's ``_start``, with stdin, argv and env."""
    return function == "run" and COMMAND_EXPORT.match(interface) is not None


def _signature(name: str, ty: wc.FuncType) -> FunctionSignature:
    return FunctionSignature(name=name, params=(), results=(), wit=func_wit(ty))


def restore_component(engine: wasmtime.Engine, artifact: Artifact) -> CompiledComponent:
    """The component of a trusted ``artifact``; ``ArtifactUnusable("stale")`` if this
    wasmtime refuses it."""
    try:
        component = wc.Component.deserialize(engine, artifact.image)
    except wasmtime.WasmtimeError as exc:
        raise ArtifactUnusable("stale", f"wasmtime refused the artifact: {exc}") from None
    return CompiledComponent(
        digest=artifact.digest,
        component=component,
        analysis=artifact.analysis,
        exports=artifact.exports,
        wasm_size=artifact.wasm_size,
        size=len(artifact.image) + COMPONENT_OVERHEAD,
    )


def component_artifact(compiled: CompiledComponent, *, flavor: str) -> Artifact:
    """``compiled`` as an artifact of ``flavor``."""
    return Artifact(
        digest=compiled.digest,
        flavor=flavor,
        image=bytes(compiled.component.serialize()),
        analysis=compiled.analysis,
        footprint=NO_FOOTPRINT,
        guarded=False,
        exports=compiled.exports,
        wasm_size=compiled.wasm_size,
    )


def function_type(
    engine: wasmtime.Engine, component: wc.Component, name: str
) -> tuple[wc.FuncType, wc.ExportIndex]:
    """The type and export index of the function ``name`` (``interface#function`` for
    one inside an exported interface)."""
    exports = component.type.exports(engine)
    if name == COMMAND_ENTRY:
        name = next(
            f"{found}{INTERFACE_SEPARATOR}run" for found in exports if COMMAND_EXPORT.match(found)
        )
    interface, _, inner = name.rpartition(INTERFACE_SEPARATOR)
    if interface:
        outer = exports[interface].ty
        assert isinstance(outer, wc.ComponentInstanceType)
        ty = outer.exports(engine)[inner].ty
        parent = component.get_export_index(interface)
        index = component.get_export_index(inner, parent)
    else:
        ty = exports[name].ty
        index = component.get_export_index(name)
    assert isinstance(ty, wc.FuncType)
    assert index is not None
    return ty, index
