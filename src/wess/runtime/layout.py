"""The sections and index spaces of a module, read from its bytes.

Wess reads signatures, imports and exports here rather than through wasmtime-py's
type reflection: its C API aborts the whole process when asked for the parameters
of a function taking ``v128`` or a GC reference. Modules are validated by wasmtime
before they get here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wess.runtime.wasmbin import (
    EXPORT,
    FUNCTION,
    GLOBAL,
    IMPORT,
    MAGIC,
    MEMORY,
    TABLE,
    TYPE,
    Unsupported,
    read_uleb,
    scan,
    skip_leb,
    skip_valtype,
)

EXTERN_KINDS = ("func", "table", "memory", "global", "tag")
VALTYPE_NAMES = {
    0x7F: "i32",
    0x7E: "i64",
    0x7D: "f32",
    0x7C: "f64",
    0x7B: "v128",
    0x70: "funcref",
    0x6F: "externref",
    0x6E: "anyref",
    0x69: "exnref",
}


@dataclass(frozen=True, slots=True)
class FuncType:
    """Parameter and result types, each as its encoded bytes (``b"\\x7f"`` is i32)."""

    params: tuple[bytes, ...]
    results: tuple[bytes, ...]

    def describe(self) -> str:
        params = " ".join(valtype_name(t) for t in self.params)
        results = " ".join(valtype_name(t) for t in self.results)
        return (
            "(func"
            + (f" (param {params})" if params else "")
            + (f" (result {results})" if results else "")
            + ")"
        )


@dataclass(frozen=True, slots=True)
class Import:
    module: str
    name: str
    kind: str  # one of EXTERN_KINDS
    type: FuncType | None  # for functions


@dataclass(frozen=True, slots=True)
class Section:
    id: int
    start: int  # the section id byte
    payload: int  # the first byte after the size
    end: int


@dataclass(slots=True)
class Layout:
    """The sections of a module and its index spaces, in index order."""

    sections: list[Section]
    types: list[FuncType | None] = field(default_factory=list)  # None: not a function type
    imports: list[Import] = field(default_factory=list)
    function_types: list[int] = field(default_factory=list)  # imported functions first
    imported_globals: int = 0
    globals: int = 0
    memories64: list[bool] = field(default_factory=list)  # imported memories first
    memory_minimums: list[int] = field(default_factory=list)  # defined memories, pages
    table_minimums: list[int] = field(default_factory=list)  # defined tables, elements
    exports: list[tuple[str, str, int]] = field(default_factory=list)  # name, kind, index

    def section(self, section_id: int) -> Section | None:
        return next((s for s in self.sections if s.id == section_id), None)

    def function_type(self, index: int) -> FuncType | None:
        return self.types[self.function_types[index]]


def valtype_name(encoded: bytes) -> str:
    return VALTYPE_NAMES.get(encoded[0], "ref") if len(encoded) == 1 else "ref"


def read_layout(data: bytes) -> Layout:
    """The sections and index spaces of a validated module."""
    if data[:8] != MAGIC:
        raise Unsupported("not a core WebAssembly module")
    sections: list[Section] = []
    pos = 8
    try:
        while pos < len(data):
            size, payload = read_uleb(data, pos + 1)
            sections.append(Section(data[pos], pos, payload, payload + size))
            pos = payload + size
        layout = Layout(sections)
        for section in sections:
            _read_section(data, section, layout)
    except IndexError:
        raise Unsupported("truncated module") from None
    return layout


def _read_section(data: bytes, section: Section, layout: Layout) -> None:
    kind, pos = section.id, section.payload
    if kind not in (TYPE, IMPORT, FUNCTION, TABLE, MEMORY, GLOBAL, EXPORT):
        return
    count, pos = read_uleb(data, pos)
    for _ in range(count):
        if kind == TYPE:
            pos = _read_type_entry(data, pos, layout)
        elif kind == IMPORT:
            pos = _read_import(data, pos, layout)
        elif kind == FUNCTION:
            index, pos = read_uleb(data, pos)
            layout.function_types.append(index)
        elif kind == MEMORY:
            minimum, is64, pos = _read_limits(data, pos)
            layout.memories64.append(is64)
            layout.memory_minimums.append(minimum)
        elif kind == TABLE:
            has_init = data[pos] == 0x40 and data[pos + 1] == 0x00
            pos = skip_valtype(data, pos + 2 if has_init else pos)
            minimum, _, pos = _read_limits(data, pos)
            layout.table_minimums.append(minimum)
            if has_init:
                pos, _ = scan(data, pos, -1)
        elif kind == GLOBAL:
            layout.globals += 1
            pos, _ = scan(data, skip_valtype(data, pos) + 1, -1)
        else:
            name, pos = _read_name(data, pos)
            extern = data[pos]
            index, pos = read_uleb(data, pos + 1)
            layout.exports.append((name, _extern_kind(extern), index))


def _extern_kind(code: int) -> str:
    if code >= len(EXTERN_KINDS):
        raise Unsupported(f"unknown external kind {code}")
    return EXTERN_KINDS[code]


def _read_name(data: bytes, pos: int) -> tuple[str, int]:
    size, pos = read_uleb(data, pos)
    return data[pos : pos + size].decode("utf-8", errors="replace"), pos + size


def _read_limits(data: bytes, pos: int) -> tuple[int, bool, int]:
    flags = data[pos]
    minimum, pos = read_uleb(data, pos + 1)
    if flags & 0x01:
        pos = skip_leb(data, pos)
    if flags & 0x08:
        raise Unsupported("custom page sizes")
    return minimum, bool(flags & 0x04), pos


def _read_import(data: bytes, pos: int, layout: Layout) -> int:
    module, pos = _read_name(data, pos)
    name, pos = _read_name(data, pos)
    kind = _extern_kind(data[pos])
    pos += 1
    functype: FuncType | None = None
    if kind == "func":
        type_index, pos = read_uleb(data, pos)
        functype = layout.types[type_index] if type_index < len(layout.types) else None
        layout.function_types.append(type_index)
    elif kind == "table":
        pos = _read_limits(data, skip_valtype(data, pos))[2]
    elif kind == "memory":
        _, is64, pos = _read_limits(data, pos)
        layout.memories64.append(is64)
    elif kind == "global":
        layout.imported_globals += 1
        pos = skip_valtype(data, pos) + 1
    else:
        pos = skip_leb(data, pos + 1)
    layout.imports.append(Import(module, name, kind, functype))
    return pos


def _read_type_entry(data: bytes, pos: int, layout: Layout) -> int:
    if data[pos] == 0x4E:  # a recursion group of several types
        count, pos = read_uleb(data, pos + 1)
        for _ in range(count):
            pos = _read_subtype(data, pos, layout)
        return pos
    return _read_subtype(data, pos, layout)


def _read_subtype(data: bytes, pos: int, layout: Layout) -> int:
    if data[pos] in (0x50, 0x4F):
        count, pos = read_uleb(data, pos + 1)
        pos = skip_leb(data, pos, count)
    form = data[pos]
    pos += 1
    if form == 0x60:
        lists: list[tuple[bytes, ...]] = []
        for _ in range(2):
            count, pos = read_uleb(data, pos)
            items = []
            for _ in range(count):
                start, pos = pos, skip_valtype(data, pos)
                items.append(data[start:pos])
            lists.append(tuple(items))
        layout.types.append(FuncType(lists[0], lists[1]))
        return pos
    layout.types.append(None)
    if form == 0x5F:
        count, pos = read_uleb(data, pos)
        for _ in range(count):
            pos = _skip_field(data, pos)
        return pos
    if form == 0x5E:
        return _skip_field(data, pos)
    raise Unsupported(f"unknown type form 0x{form:02x}")


def _skip_field(data: bytes, pos: int) -> int:
    pos = pos + 1 if data[pos] in (0x78, 0x77) else skip_valtype(data, pos)
    return pos + 1
