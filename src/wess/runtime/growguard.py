"""Make a refused ``memory.grow`` visible to the host.

Why: wasmtime's C API limits memory with fixed numbers (``wasmtime_store_limiter``)
and has no limiter callback, and a refused grow only returns -1 to the guest. What the
guest does next (trap, abort, exit) does not say why. Comparing the memory's size
with the limit after a trap is not sound: a refused ``memory.grow 100`` leaves the
memory far below the limit.

How: every ``memory.grow m`` in the code becomes ``call $grow_m``, an appended
function that performs the same grow and, when it fails, records the size in pages
the guest asked for in an appended, exported i64 global (the largest such size of
the call). Functions and globals are appended after the existing ones, so no index
of the original module moves; a function body only changes where it had a
``memory.grow``. After a trap the host reads the global: a recorded size beyond the
memory limit means the limiter refused the grow (a grow refused only by the memory's
own declared maximum records a size within the limit and is not blamed on Wess).

A module without ``memory.grow`` is left as it is; so is one the scanner cannot
follow, and then a refused grow shows as the guest's own trap.
"""

from __future__ import annotations

from dataclasses import dataclass

from wess.runtime.layout import Layout
from wess.runtime.wasmbin import (
    CODE,
    EXPORT,
    FUNCTION,
    GLOBAL,
    MAGIC,
    SECTION_ORDER,
    TYPE,
    Unsupported,
    read_uleb,
    scan,
    skip_leb,
    skip_valtype,
    uleb,
)

GUARD_EXPORT = "wess:grow-refused"
"""The exported global holding the largest refused memory size (pages) of a call."""

I32, I64 = 0x7F, 0x7E
PAGE = 1 << 16


@dataclass(frozen=True, slots=True)
class Footprint:
    """What a module asks for at instantiation, to explain a refusal."""

    memory_pages: tuple[int, ...] = ()
    table_elements: tuple[int, ...] = ()

    def memory_bytes(self) -> int:
        return max(self.memory_pages, default=0) * PAGE


@dataclass(frozen=True, slots=True)
class Guarded:
    """A module ready to compile: the wasm (patched or not) and what was learned."""

    wasm: bytes
    guarded: bool
    footprint: Footprint


def refused_beyond(refused_pages: int, max_memory: int) -> bool:
    """Whether a recorded refused size exceeds the limit (so the limiter refused it)."""
    return refused_pages * PAGE > max_memory


def guard(wasm: bytes, layout: Layout) -> Guarded:
    """``wasm`` with every ``memory.grow`` observed, or unchanged if it has none or
    cannot be followed."""
    footprint = Footprint(tuple(layout.memory_minimums), tuple(layout.table_minimums))
    try:
        patched = _patch(wasm, layout)
    except (Unsupported, IndexError):
        patched = None
    if patched is None:
        return Guarded(wasm, False, footprint)
    return Guarded(patched, True, footprint)


def _patch(wasm: bytes, layout: Layout) -> bytes | None:
    code = layout.section(CODE)
    if code is None or any(name == GUARD_EXPORT for name, _, _ in layout.exports):
        return None
    bodies: list[tuple[int, int, list[tuple[int, int, int]]]] = []
    count, pos = read_uleb(wasm, code.payload)
    for _ in range(count):
        size, start = read_uleb(wasm, pos)
        body = start
        local_groups, body = read_uleb(wasm, body)
        for _ in range(local_groups):
            body = skip_valtype(wasm, skip_leb(wasm, body))
        _, grows = scan(wasm, body, start + size)
        bodies.append((pos, start + size, grows))
        pos = start + size
    memories = sorted({memory for _, _, grows in bodies for _, _, memory in grows})
    if not memories:
        return None
    first_helper = len(layout.function_types)
    helper = {memory: first_helper + i for i, memory in enumerate(memories)}
    guard_global = layout.imported_globals + layout.globals
    types = {I32: len(layout.types), I64: len(layout.types) + 1}

    new_code = bytearray(uleb(count + len(memories)))
    for entry_start, entry_end, grows in bodies:
        if not grows:
            new_code += wasm[entry_start:entry_end]
            continue
        _, cursor = read_uleb(wasm, entry_start)
        patched = bytearray()
        for start, stop, memory in grows:
            patched += wasm[cursor:start]
            patched += b"\x10" + uleb(helper[memory])
            cursor = stop
        patched += wasm[cursor:entry_end]
        new_code += uleb(len(patched)) + patched
    for memory in memories:
        helper_body = _helper_body(memory, layout.memories64[memory], guard_global)
        new_code += uleb(len(helper_body)) + helper_body

    additions = {
        TYPE: [bytes([0x60, 1, I32, 1, I32]), bytes([0x60, 1, I64, 1, I64])],
        FUNCTION: [uleb(types[I64 if layout.memories64[m] else I32]) for m in memories],
        GLOBAL: [bytes([I64, 0x01, 0x42, 0x00, 0x0B])],
        EXPORT: [uleb(len(GUARD_EXPORT)) + GUARD_EXPORT.encode() + b"\x03" + uleb(guard_global)],
    }
    return _assemble(wasm, layout, additions, bytes(new_code))


def _helper_body(memory: int, is64: bool, guard_global: int) -> bytes:
    """``(param d) (result r) (local r' w)``: grow; on -1 record size + d if larger."""
    index = I64 if is64 else I32
    mem = uleb(memory)
    widen = b"" if is64 else b"\xad"  # i64.extend_i32_u
    minus_one = b"\x42\x7f" if is64 else b"\x41\x7f"
    equals = b"\x51" if is64 else b"\x46"
    g = uleb(guard_global)
    return (
        bytes([2, 1, index, 1, I64])
        + b"\x20\x00\x40"
        + mem
        + b"\x22\x01"
        + minus_one
        + equals  # local.tee r (grow d)
        + b"\x04\x40"  # if it failed
        + b"\x3f"
        + mem
        + widen
        + b"\x20\x00"
        + widen
        + b"\x7c"  # size + d
        + b"\x22\x02\x23"
        + g
        + b"\x56"  # local.tee w; global.get; i64.gt_u
        + b"\x04\x40\x20\x02\x24"
        + g
        + b"\x0b"  # if larger: global.set
        + b"\x0b\x20\x01\x0b"  # end; local.get r; end
    )


def _assemble(wasm: bytes, layout: Layout, additions: dict[int, list[bytes]], code: bytes) -> bytes:
    out = bytearray(MAGIC)
    pending = dict(additions)
    for section in layout.sections:
        rank = SECTION_ORDER.get(section.id)
        if rank is not None:
            for missing in sorted(
                s for s in pending if s != section.id and SECTION_ORDER[s] < rank
            ):
                out += _section(missing, uleb(len(pending[missing])) + b"".join(pending[missing]))
                del pending[missing]
        if section.id == CODE:
            out += _section(CODE, code)
        elif section.id in pending:
            count, entries = read_uleb(wasm, section.payload)
            extra = pending.pop(section.id)
            out += _section(
                section.id, uleb(count + len(extra)) + wasm[entries : section.end] + b"".join(extra)
            )
        elif section.id == 0 and _is_code_metadata(wasm, section.payload):
            continue  # byte offsets into bodies we changed; wasmtime only reads them as hints
        else:
            out += wasm[section.start : section.end]
    if pending:
        raise Unsupported("sections left unplaced")
    return bytes(out)


def _section(section_id: int, payload: bytes) -> bytes:
    return bytes([section_id]) + uleb(len(payload)) + payload


def _is_code_metadata(wasm: bytes, payload: int) -> bool:
    size, pos = read_uleb(wasm, payload)
    return wasm[pos : pos + size].startswith(b"metadata.code.")
