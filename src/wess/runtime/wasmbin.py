"""The low level of the WebAssembly binary format: LEB128, types, instructions.

``scan`` walks function bodies and constant expressions instruction by instruction,
so that an opcode is found only where it is an opcode, never inside an immediate. It
follows the instructions of the features the engine accepts (MVP, sign extension,
saturating conversions, bulk memory, reference types, multi-value, SIMD and relaxed
SIMD, tail calls, exceptions, function references, GC, memory64, wide arithmetic,
atomics); bytes it cannot follow raise ``Unsupported`` and the caller leaves the
module alone. Inputs are validated by wasmtime first, so this is not a validator.
"""

from __future__ import annotations

MAGIC = b"\0asm\x01\0\0\0"
COMPONENT_LAYER = b"\x01\x00"
"""Bytes 6-7 of a component's header (a core module has 0): the ``layer`` field."""
TYPE, IMPORT, FUNCTION, TABLE, MEMORY, GLOBAL, EXPORT = 1, 2, 3, 4, 5, 6, 7
START, ELEMENT, CODE, DATA, DATACOUNT, TAG = 8, 9, 10, 11, 12, 13
SECTION_ORDER = {
    TYPE: 1,
    IMPORT: 2,
    FUNCTION: 3,
    TABLE: 4,
    MEMORY: 5,
    TAG: 6,
    GLOBAL: 7,
    EXPORT: 8,
    START: 9,
    ELEMENT: 10,
    DATACOUNT: 11,
    CODE: 12,
    DATA: 13,
}
PAGE = 1 << 16


class Unsupported(Exception):
    """The bytes use something this scanner does not follow."""


def uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_uleb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def find_section(data: bytes, section_id: int) -> tuple[int, int] | None:
    """Where the payload of ``data``'s first ``section_id`` section starts and ends, read
    from section headers alone (no section is parsed); None when there is none.
    ``Unsupported`` for bytes that are not a core module, ``IndexError`` when truncated."""
    if data[:8] != MAGIC:
        raise Unsupported("not a core WebAssembly module")
    pos = 8
    while pos < len(data):
        size, payload = read_uleb(data, pos + 1)
        if data[pos] == section_id:
            return payload, payload + size
        pos = payload + size
    return None


def skip_leb(data: bytes, pos: int, count: int = 1) -> int:
    for _ in range(count):
        while data[pos] & 0x80:
            pos += 1
        pos += 1
    return pos


def skip_valtype(data: bytes, pos: int) -> int:
    """A value or block type: one byte, a type index, or ``(ref null? ht)``."""
    if data[pos] in (0x63, 0x64):
        return skip_leb(data, pos + 1)
    return skip_leb(data, pos)


def skip_memarg(data: bytes, pos: int) -> int:
    flags, pos = read_uleb(data, pos)
    if flags & 0x40:  # multi-memory: an explicit memory index follows
        pos = skip_leb(data, pos)
    return skip_leb(data, pos)


# What follows each single-byte opcode.
NONE, LEB, LEB2, BLOCK, BR_TABLE, SELECT_T, TRY_TABLE, MEMARG, GROW, F32, F64, PREFIX = range(12)
OPCODES: dict[int, int] = {}
for _op in (
    0x00,
    0x01,
    0x05,
    0x0A,
    0x0B,
    0x0F,
    0x19,
    0x1A,
    0x1B,
    0xD1,
    0xD3,
    0xD4,
    *range(0x45, 0xC5),
):
    OPCODES[_op] = NONE
for _op in (
    0x07,
    0x08,
    0x09,
    0x0C,
    0x0D,
    0x10,
    0x12,
    0x14,
    0x15,
    0x18,
    *range(0x20, 0x27),
    0x3F,
    0x41,
    0x42,
    0xD0,
    0xD2,
    0xD5,
    0xD6,
):
    OPCODES[_op] = LEB
OPCODES.update(
    {
        0x02: BLOCK,
        0x03: BLOCK,
        0x04: BLOCK,
        0x06: BLOCK,
        0x11: LEB2,
        0x13: LEB2,
        0x0E: BR_TABLE,
        0x1C: SELECT_T,
        0x1F: TRY_TABLE,
        0x40: GROW,
        0x43: F32,
        0x44: F64,
        0xFB: PREFIX,
        0xFC: PREFIX,
        0xFD: PREFIX,
        0xFE: PREFIX,
    }
)
for _op in range(0x28, 0x3F):
    OPCODES[_op] = MEMARG

# GC (0xFB): how many LEB immediates follow each sub-opcode (24, 25 are special).
GC_LEBS = {
    **dict.fromkeys((0, 1, 6, 7, 11, 12, 13, 14, 16, 20, 21, 22, 23), 1),
    **dict.fromkeys((2, 3, 4, 5, 8, 9, 10, 17, 18, 19), 2),
    **dict.fromkeys((15, 26, 27, 28, 29, 30), 0),
}
# Misc (0xFC): saturating conversions, bulk memory, tables, wide arithmetic.
MISC_LEBS = {
    **dict.fromkeys((0, 1, 2, 3, 4, 5, 6, 7, 19, 20, 21, 22), 0),
    **dict.fromkeys((9, 11, 13, 15, 16, 17), 1),
    **dict.fromkeys((8, 10, 12, 14), 2),
}
SIMD_LAST = 0x113


def _skip_prefixed(data: bytes, prefix: int, pos: int) -> int:
    sub, pos = read_uleb(data, pos)
    if prefix == 0xFB:
        if sub in (24, 25):  # br_on_cast(_fail): flags, label, two heap types
            return skip_leb(data, pos + 1, 3)
        if sub in GC_LEBS:
            return skip_leb(data, pos, GC_LEBS[sub])
    elif prefix == 0xFC:
        if sub in MISC_LEBS:
            return skip_leb(data, pos, MISC_LEBS[sub])
    elif prefix == 0xFD:
        if sub <= 11 or sub in (92, 93):
            return skip_memarg(data, pos)
        if sub in (12, 13):
            return pos + 16
        if 21 <= sub <= 34:
            return pos + 1
        if 84 <= sub <= 91:
            return skip_memarg(data, pos) + 1
        if sub <= SIMD_LAST:
            return pos
    elif prefix == 0xFE:
        if sub == 3:
            return pos + 1
        if sub <= 2 or 0x10 <= sub <= 0x4E:
            return skip_memarg(data, pos)
    raise Unsupported(f"unknown instruction 0x{prefix:02x} {sub}")


def scan(data: bytes, pos: int, end: int) -> tuple[int, list[tuple[int, int, int]]]:
    """Walk instructions from ``pos`` up to ``end`` (a body) or to the ``end`` opcode
    closing depth 0 when ``end`` is -1 (a constant expression).

    Returns where the walk stopped and every ``memory.grow`` as (start, stop, memory).
    """
    grows: list[tuple[int, int, int]] = []
    depth = 0
    while end < 0 or pos < end:
        start = pos
        opcode = data[pos]
        pos += 1
        kind = OPCODES.get(opcode)
        if kind is None:
            raise Unsupported(f"unknown opcode 0x{opcode:02x} at offset {start}")
        if kind == NONE:
            if opcode == 0x0B:
                if depth == 0 and end < 0:
                    return pos, grows
                depth -= 1
        elif kind == LEB:
            pos = skip_leb(data, pos)
        elif kind == MEMARG:
            pos = skip_memarg(data, pos)
        elif kind == BLOCK:
            depth += 1
            pos = skip_valtype(data, pos)
        elif kind == GROW:
            memory, pos = read_uleb(data, pos)
            grows.append((start, pos, memory))
        elif kind == LEB2:
            pos = skip_leb(data, pos, 2)
        elif kind == F32:
            pos += 4
        elif kind == F64:
            pos += 8
        elif kind == BR_TABLE:
            count, pos = read_uleb(data, pos)
            pos = skip_leb(data, pos, count + 1)
        elif kind == SELECT_T:
            count, pos = read_uleb(data, pos)
            for _ in range(count):
                pos = skip_valtype(data, pos)
        elif kind == TRY_TABLE:
            depth += 1
            pos = skip_valtype(data, pos)
            count, pos = read_uleb(data, pos)
            for _ in range(count):
                catch = data[pos]
                pos = skip_leb(data, pos + 1, 2 if catch in (0, 1) else 1)
        else:
            pos = _skip_prefixed(data, opcode, pos)
    if pos != end:
        raise Unsupported("an instruction runs past the end of its function body")
    return pos, grows


def is_component(wasm: bytes | bytearray | memoryview) -> bool:
    """Whether ``wasm`` is a component (header layer 1) rather than a core module."""
    return bytes(wasm[:4]) == MAGIC[:4] and bytes(wasm[6:8]) == COMPONENT_LAYER
