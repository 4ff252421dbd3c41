"""What a module offers and needs: its callable functions and its imports.

Pure: works on a ``Layout`` read from the module's bytes. A function is callable when
every parameter and result is i32, i64, f32 or f64 (several results are fine);
exports taking or returning anything else (v128, references) are left out of the
catalogue, as are exports that are not functions.

``check_exports`` bounds what a module's exports make Wess hold (each name is stored
with the module and served in its resource): how many there are, and that each name
is 1 to ``max_name`` printable characters. It reads the export section straight from
the bytes, before anything is compiled.
"""

from __future__ import annotations

from dataclasses import dataclass

from wess.errors import InvalidExports, UnknownImport
from wess.models import FunctionSignature, ValueType
from wess.runtime.hostapi import SIGNATURES
from wess.runtime.kv import uses_kv
from wess.runtime.layout import FuncType, Import, Layout
from wess.runtime.reasons import clipped, listed
from wess.runtime.wasmbin import (
    EXPORT,
    Unsupported,
    find_section,
    is_component,
    read_uleb,
    skip_leb,
)

WASI_MODULE = "wasi_snapshot_preview1"
RANDOM_IMPORT = ("env", "randomi32")
RANDOM_TYPE = FuncType((), (b"\x7f",))
PROVIDED = (
    "Wess provides wasi_snapshot_preview1 functions, env.randomi32() -> i32, its host "
    "API (wess:log@1.log, wess:clock@1.now_ms, wess:kv@1.get/set/delete/list; see "
    "docs/functions.md), and the functions of other stored modules as "
    "wess:module/<name> or wess:module/<name>@<alias>"
)
COMMAND_ENTRY = "_start"
"""The export that makes a module a WASI command: run with stdin, argv and env."""
PER_CALL_IMPORTS = frozenset(
    f"{module}.{name}" for (module, name), (_, per_call) in SIGNATURES.items() if per_call
)
LINK_PREFIX = "wess:module/"
"""The import module of a function another stored module exports: ``wess:module/adder``
(its current revision) or ``wess:module/adder@prod`` (the revision an alias names)."""
MAX_EXPORTS = 1000
MAX_EXPORT_NAME = 256
UTF8_MAX = 4
"""Bytes of UTF-8 per character at most: a longer encoded name is too long unread."""
NAMES_SHOWN = 48
NUMBER_TYPES = {
    b"\x7f": ValueType.I32,
    b"\x7e": ValueType.I64,
    b"\x7d": ValueType.F32,
    b"\x7c": ValueType.F64,
}


@dataclass(frozen=True, slots=True)
class ModuleAnalysis:
    """The callable exported functions, in export order, and every import as
    ``module.name`` (a component's: the interfaces it imports, ``component`` True)."""

    functions: tuple[FunctionSignature, ...]
    imports: tuple[str, ...]
    component: bool = False

    @property
    def uses_wasi(self) -> bool:
        return any(name.startswith(WASI_MODULE + ".") for name in self.imports)

    @property
    def links(self) -> tuple[str, ...]:
        """The modules it links, as its imports name them (``adder``, ``adder@prod``),
        sorted, each once: ``wess:module/<ref>.<function>`` imports."""
        return tuple(
            sorted(
                {
                    name[len(LINK_PREFIX) :].split(".", 1)[0]
                    for name in self.imports
                    if name.startswith(LINK_PREFIX)
                }
            )
        )

    def linked_functions(self, ref: str) -> tuple[str, ...]:
        """The functions it imports from the module ``ref`` names."""
        prefix = f"{LINK_PREFIX}{ref}."
        return tuple(name[len(prefix) :] for name in self.imports if name.startswith(prefix))

    @property
    def uses_kv(self) -> bool:
        """Whether it imports ``wess:kv@1`` (its calls then need a ``KvAccess``)."""
        return uses_kv(self.imports)

    @property
    def needs_call_io(self) -> bool:
        """Whether its calls need a ``GuestIO`` (WASI, or a per-call host function):
        such modules take the documented call path."""
        return self.uses_wasi or not PER_CALL_IMPORTS.isdisjoint(self.imports)

    @property
    def is_command(self) -> bool:
        """Whether it exports ``_start() -> ()``: a WASI command."""
        return any(is_command_entry(f) for f in self.functions)


def is_command_entry(signature: FunctionSignature) -> bool:
    """``_start`` taking and returning nothing: a command's entry point."""
    return signature.name == COMMAND_ENTRY and not signature.params and not signature.results


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportLimits:
    """The most exports a module may have (every kind counted) and the longest export
    name, in characters."""

    max_exports: int = MAX_EXPORTS
    max_name: int = MAX_EXPORT_NAME


def acceptable_name(name: str, *, limit: int) -> bool:
    """1 to ``limit`` printable characters: no control characters (CR, LF, NUL, tab,
    DEL ...), no format characters (bidi overrides, zero-width joiners), no separator
    but the ASCII space, nothing private-use or unassigned (``str.isprintable``)."""
    return 0 < len(name) <= limit and name.isprintable()


def check_exports(wasm: bytes, limits: ExportLimits) -> None:
    """Refuse (``InvalidExports``) a module with more than ``limits.max_exports``
    exports, or with export names that are not ``acceptable_name``s, naming the cap
    and the first offenders. Reads section headers and the export section only; bytes
    it cannot follow are left alone, for wasmtime's validation to refuse."""
    if is_component(wasm):
        return  # a component: its exports are read from its types once it compiles
    try:
        found = find_section(wasm, EXPORT)
        if found is None:
            return
        count, pos = read_uleb(wasm, found[0])
        if count > limits.max_exports:
            raise InvalidExports(
                f"the module has {count:,} exports; at most {limits.max_exports:,} are "
                "accepted (limits.max_exports)",
                limit=limits.max_exports,
                exports=count,
            )
        refused: list[str] = []
        for _ in range(count):
            size, pos = read_uleb(wasm, pos)
            raw, pos = wasm[pos : pos + size], pos + size
            too_long = size > limits.max_name * UTF8_MAX
            name = raw[: limits.max_name * UTF8_MAX].decode("utf-8", errors="replace")
            if too_long or not acceptable_name(name, limit=limits.max_name):
                refused.append(repr(clipped(name, limit=NAMES_SHOWN)))
            pos = skip_leb(wasm, pos + 1)
    except (IndexError, Unsupported):
        return
    if refused:
        raise InvalidExports(
            f"export names must be 1 to {limits.max_name} printable characters "
            f"(limits.max_export_name), without control characters; refused: {listed(refused)}",
            limit=limits.max_name,
        )


def analyze_layout(layout: Layout) -> ModuleAnalysis:
    """The catalogue of ``layout``; raises ``UnknownImport`` for an import Wess does not
    provide."""
    for item in layout.imports:
        check_import(item)
    return ModuleAnalysis(
        functions=catalogue(layout),
        imports=tuple(f"{item.module}.{item.name}" for item in layout.imports),
    )


def check_import(item: Import) -> None:
    """Accept WASI preview 1 functions (the linker checks their names and types),
    ``env.randomi32() -> i32`` and the host API's functions of their exact types;
    refuse anything else, naming it."""
    if item.kind == "func" and item.module == WASI_MODULE:
        return
    host = SIGNATURES.get((item.module, item.name))
    if item.kind == "func" and host is not None and item.type == host[0]:
        return
    if item.kind == "func" and item.module.startswith(LINK_PREFIX):
        ref = item.module[len(LINK_PREFIX) :]
        if ref and "." not in ref and "/" not in ref and ref.count("@") <= 1:
            return
        raise unknown_import(
            item, f"{LINK_PREFIX}<name> or {LINK_PREFIX}<name>@<alias>, without '.' or '/'"
        )
    if (
        item.kind == "func"
        and (item.module, item.name) == RANDOM_IMPORT
        and item.type == RANDOM_TYPE
    ):
        return
    raise unknown_import(item, PROVIDED)


def unknown_import(item: Import, reason: str) -> UnknownImport:
    described = item.type.describe() if item.type is not None else item.kind
    name = f"{item.module}.{item.name}"
    return UnknownImport(
        f"the module imports {name} {described}, which Wess does not provide: {reason}",
        import_name=name,
        import_type=described,
    )


def catalogue(layout: Layout) -> tuple[FunctionSignature, ...]:
    """Every exported function whose types are all numbers, in export order."""
    functions: list[FunctionSignature] = []
    for name, kind, index in layout.exports:
        if kind != "func":
            continue
        functype = layout.function_type(index)
        signature = _signature(name, functype) if functype is not None else None
        if signature is not None:
            functions.append(signature)
    return tuple(functions)


def _signature(name: str, functype: FuncType) -> FunctionSignature | None:
    types = functype.params + functype.results
    if not all(t in NUMBER_TYPES for t in types):
        return None
    return FunctionSignature(
        name=name,
        params=tuple(NUMBER_TYPES[t] for t in functype.params),
        results=tuple(NUMBER_TYPES[t] for t in functype.results),
    )
