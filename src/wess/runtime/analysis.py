"""What a module offers and needs: its callable functions and its imports.

Pure: works on a ``Layout`` read from the module's bytes. A function is callable when
every parameter and result is i32, i64, f32 or f64 (several results are fine);
exports taking or returning anything else (v128, references) are left out of the
catalogue, as are exports that are not functions.
"""

from __future__ import annotations

from dataclasses import dataclass

from wess.errors import UnknownImport
from wess.models import FunctionSignature, ValueType
from wess.runtime.layout import FuncType, Import, Layout

WASI_MODULE = "wasi_snapshot_preview1"
RANDOM_IMPORT = ("env", "randomi32")
RANDOM_TYPE = FuncType((), (b"\x7f",))
PROVIDED = "Wess provides wasi_snapshot_preview1 functions and env.randomi32() -> i32 only"
NUMBER_TYPES = {
    b"\x7f": ValueType.I32,
    b"\x7e": ValueType.I64,
    b"\x7d": ValueType.F32,
    b"\x7c": ValueType.F64,
}


@dataclass(frozen=True, slots=True)
class ModuleAnalysis:
    """The callable exported functions, in export order, and every import as
    ``module.name``."""

    functions: tuple[FunctionSignature, ...]
    imports: tuple[str, ...]

    @property
    def uses_wasi(self) -> bool:
        return any(name.startswith(WASI_MODULE + ".") for name in self.imports)


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
    """Accept WASI preview 1 functions (the linker checks their names and types) and
    ``env.randomi32() -> i32``; refuse anything else, naming it."""
    if item.kind == "func" and item.module == WASI_MODULE:
        return
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
