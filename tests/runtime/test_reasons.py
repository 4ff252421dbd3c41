"""wasmtime's error texts as problem details: whole sentences, bounded, never cut."""

from __future__ import annotations

import pytest
import wasmtime

from tests.fixtures import wasm
from wess.errors import ModuleRejected, WessError
from wess.runtime import Runtime
from wess.runtime.reasons import (
    ELIDED,
    ITEM_LIMIT,
    REASON_LIMIT,
    listed,
    listed_sorted,
    reason_of,
    shortened,
)

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


# -- lists of offenders and long texts, as problem details name them ---------------------------


def test_a_list_names_the_first_few_and_counts_the_rest():
    """700,000 offenders: five named, in the order given, and the rest counted."""
    keys = (f"k{index:06d}" for index in range(700_000))
    assert listed(keys) == "k000000, k000001, k000002, k000003, k000004 and 699,995 more"


@pytest.mark.parametrize(
    ("items", "text"),
    [([], "none"), (["a"], "a"), (["a", "b"], "a and b"), (["a", "b", "c"], "a, b and c")],
)
def test_a_short_list_is_named_whole(items, text):
    assert listed(items) == text


def test_a_sorted_list_names_the_smallest_without_sorting_everything():
    """A set's first five in sorted order, whatever order the set holds them in."""
    assert listed_sorted({"e", "b", "g", "a", "f", "c", "d"}) == "a, b, c, d, e and 2 more"


def test_each_named_item_is_clipped():
    """One offender of a megabyte is shown as its first characters and an ellipsis."""
    text = listed(["x" * 1_000_000, "y"])
    assert text == "x" * (ITEM_LIMIT - 1) + "… and y"


@pytest.mark.parametrize(
    "text",
    [
        "unknown field(s): " + repr("x" * 100_000),
        "word " * 10_000,
        "the module exports no function 'f'; it exports: " + ", ".join(["(a, b)"] * 5000),
        "z" * 5000,
    ],
)
def test_a_long_text_is_cut_between_words_and_marked(text):
    """Cut to the limit, between words, outside brackets and quotes, marked […]."""
    short = shortened(text, limit=300)
    assert len(short) <= 300
    assert short.endswith(ELIDED)
    for opener, closer in PAIRS:
        assert short.count(opener) == short.count(closer), short
    assert short.count("'") % 2 == 0, short


def test_a_text_within_the_limit_is_kept():
    assert shortened("a short detail.", limit=300) == "a short detail."
