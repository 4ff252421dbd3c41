"""wasmtime's error texts as problem details: whole sentences, bounded, never cut."""

from __future__ import annotations

import pytest
import wasmtime

from tests.fixtures import wasm
from wess.errors import ModuleRejected, WessError
from wess.runtime import Runtime
from wess.runtime.reasons import REASON_LIMIT, reason_of

ENDINGS = tuple(".)]}\"'`")
PAIRS = ("()", "[]", "{}")
DETAIL_LIMIT = REASON_LIMIT + 80
"""A detail is a short Wess prefix and the summary."""

NOT_WASM = {
    "bad magic": b"hello world, not a module",
    "unknown version": b"\0asm\x02\0\0\0",
    "truncated section": b"\0asm\x01\0\0\0\x01\x05\x01\x60",
    "invalid type": b"\0asm\x01\0\0\0\x01\x04\x01\x61\0\0",
    "type index out of bounds": b"\0asm\x01\0\0\0\x03\x02\x01\x05",
    "type mismatch": bytes(
        wasmtime.wat2wasm('(module (func (export "f") (result i32) i64.const 1))')
    ),
}


def assert_whole_sentence(text: str, *, limit: int) -> None:
    """Ends as a sentence does, every bracket and quote closed, one line, bounded."""
    assert text.endswith(ENDINGS), text
    for opener, closer in PAIRS:
        assert text.count(opener) == text.count(closer), text
    assert text.count("`") % 2 == 0, text
    assert "\n" not in text
    assert len(text) <= limit, text


def wasmtime_error(wasm_bytes: bytes) -> str:
    with pytest.raises(wasmtime.WasmtimeError) as caught:
        wasmtime.Module.validate(wasmtime.Engine(), wasm_bytes)
    return str(caught.value)


def test_a_bad_magic_number_is_summarised_whole():
    """wasmtime prints the expected and actual bytes over many lines: all of them are
    kept, on one line, not cut at the first line break."""
    reason = reason_of(wasmtime_error(NOT_WASM["bad magic"]))
    assert reason == (
        "magic header not detected: bad magic number - expected=[0x0, 0x61, 0x73, 0x6d] "
        "actual=[0x68, 0x65, 0x6c, 0x6c] (at offset 0x0)"
    )


@pytest.mark.parametrize("case", sorted(NOT_WASM))
def test_upload_details_are_whole_sentences(runtime: Runtime, case: str):
    """Every way bytes fail validation gives a detail that is a whole, bounded sentence."""
    with pytest.raises(ModuleRejected) as caught:
        runtime.load(NOT_WASM[case])
    assert caught.value.detail.startswith("invalid WebAssembly module: ")
    assert_whole_sentence(caught.value.detail, limit=DETAIL_LIMIT)


def test_trap_and_link_reasons_are_whole_sentences(runtime: Runtime):
    """A trap's reason drops the wasm backtrace; a link error keeps its header (which
    names the import) and its cause."""
    with pytest.raises(WessError) as caught:
        runtime.load(wasm("traps")).function("unreachable")()
    assert caught.value.detail == "unreachable trapped: wasm `unreachable` instruction executed."
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    linker.define_func("env", "f", wasmtime.FuncType([wasmtime.ValType.i64()], []), lambda x: 0)
    module = wasmtime.Module(engine, '(module (import "env" "f" (func (param i32))))')
    with pytest.raises(wasmtime.WasmtimeError) as linking:
        linker.instantiate_pre(module)
    assert reason_of(str(linking.value)) == (
        "incompatible import type for `env::f`; types incompatible: expected type "
        "`(func (param i32))`, found type `(func (param i64))`"
    )


def test_long_messages_are_summarised_within_the_bound():
    """A real link error over a thousand characters long: long quoted types are elided,
    the import's name stays."""
    params = " ".join(["i32"] * 150)
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    linker.define_func(
        "env", "wide", wasmtime.FuncType([wasmtime.ValType.i64()] * 150, []), lambda *a: 0
    )
    module = wasmtime.Module(engine, f'(module (import "env" "wide" (func (param {params}))))')
    with pytest.raises(wasmtime.WasmtimeError) as linking:
        linker.instantiate_pre(module)
    message = str(linking.value)
    assert len(message) > 1000
    reason = reason_of(message)
    assert_whole_sentence(reason, limit=REASON_LIMIT)
    assert "`env::wide`" in reason


@pytest.mark.parametrize(
    "message",
    [
        "word " * 200,
        "x" * 500,
        "a (" + "nested " * 100 + ") tail " * 3,
        "first cause\n\nCaused by:\n    0: " + "middle " * 80 + "\n    1: the last cause",
        "expected `" + "t" * 300 + "` here",
        "",
        "error while executing at wasm backtrace:\n    0:  0x28 - <unknown>!f",
    ],
)
def test_any_text_becomes_a_bounded_whole_sentence(message: str):
    """Whatever wasmtime writes, the summary is a whole sentence within the bound: cut
    only between words and outside brackets and quotes, and the cut is marked."""
    reason = reason_of(message)
    assert_whole_sentence(reason, limit=REASON_LIMIT)
    if len(message) > REASON_LIMIT and "Caused by" not in message:
        assert "…" in reason
