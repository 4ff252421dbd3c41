"""What a module exports, checked before it is compiled: how many exports, and names."""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from tests.fixtures import wasm
from tests.fixtures.generated import exporting, slow_to_compile
from wess.errors import InvalidExports
from wess.runtime.analysis import ExportLimits, acceptable_name, check_exports

FIXTURES = sorted(p.stem for p in (Path(__file__).parents[1] / "fixtures").glob("*.wat"))
TOOLCHAIN_NAMES = (
    "sum",
    "_start",
    "_initialize",
    "memory",
    "__wasm_call_ctors",
    "__indirect_function_table",
    "__heap_base",
    "add_i64",
    "camelCase",
    "my-func",
    "module.func",
    "$dollar",
    "with space",
    "名前",
    "ƒ",
    "a" * 256,
)


@pytest.mark.parametrize("name", FIXTURES)
def test_every_fixture_module_passes(name):
    """The modules the tests use (and the names the original API used) stay accepted."""
    check_exports(wasm(name), ExportLimits())


def test_names_toolchains_export_are_accepted():
    """C, Rust, AssemblyScript and Emscripten names, Unicode letters, an inner space,
    and a name at the length cap."""
    check_exports(exporting(TOOLCHAIN_NAMES), ExportLimits())
    assert all(acceptable_name(name, limit=256) for name in TOOLCHAIN_NAMES)


@pytest.mark.parametrize(
    "name",
    ["", "a\r\nb", "nul\0", "tab\t", "del\x7f", "bidi\u202e", "zwj\u200d", "nbsp\xa0", "a" * 257],
)
def test_names_outside_the_alphabet_are_refused(name):
    assert not acceptable_name(name, limit=256)
    with pytest.raises(InvalidExports, match=r"limits\.max_export_name"):
        check_exports(exporting(("sum", name)), ExportLimits())


def test_a_module_over_the_export_cap_is_refused_from_its_count():
    """The count in the export section's header is enough: 9,000 exports, refused."""
    names = tuple(f"f{index}" for index in range(9000))
    with pytest.raises(InvalidExports, match=r"9,000 exports; at most 1,000") as caught:
        check_exports(exporting(names), ExportLimits())
    assert caught.value.context == {"limit": 1000, "exports": 9000}


def test_many_bad_names_are_named_in_part():
    """1,000 names past the length cap: five shown, each clipped, and the rest counted."""
    names = tuple(f"{index:04d}" + "x" * 300 for index in range(1000))
    with pytest.raises(InvalidExports) as caught:
        check_exports(exporting(names), ExportLimits(max_exports=1000, max_name=256))
    detail = caught.value.detail
    assert "and 995 more" in detail
    assert len(detail) < 600


@pytest.mark.parametrize(
    "data",
    [b"", b"not wasm at all", b"\0asm\x01\0\0\0\x07\x05\x01", b"\0asm\x01\0\0\0\x07\xff\xff"],
)
def test_bytes_it_cannot_read_are_left_to_wasmtime(data):
    """Garbage and truncated sections pass here: wasmtime's validation refuses them."""
    check_exports(data, ExportLimits())


def test_no_export_section_and_other_sections_are_fine():
    check_exports(bytes(wasmtime.wat2wasm("(module (memory 1))")), ExportLimits())
    check_exports(slow_to_compile(statements=10, locals_=2), ExportLimits(max_exports=1))
