"""The evidence behind docs/components.md, "HTTP handlers": what wasmtime-py 50 lacks
to serve a component exporting wasi:http/incoming-handler. Should a wasmtime-py
upgrade add it, these tests fail, and serving HTTP handlers can be built."""

from __future__ import annotations

import pytest
import wasmtime
import wasmtime._bindings as bindings
from wasmtime import component as wc

from wess.errors import UnknownImport
from wess.runtime import Runtime

HANDLER = """
(component
  (import "wasi:http/types@0.2.0" (instance $types
    (export "incoming-request" (type (sub resource)))
    (export "response-outparam" (type (sub resource)))
  ))
  (alias export $types "incoming-request" (type $req))
  (alias export $types "response-outparam" (type $out))
  (core module $m (func (export "handle") (param i32 i32)))
  (core instance $i (instantiate $m))
  (func $handle (param "request" (own $req)) (param "response-out" (own $out))
    (canon lift (core func $i "handle")))
  (instance $handler (export "handle" (func $handle)))
  (export "wasi:http/incoming-handler@0.2.0" (instance $handler))
)
"""


def test_a_handler_instantiates_but_its_request_cannot_be_made():
    """add_wasi_http satisfies a handler's imports, but the request and response-outparam
    its handle() takes are wasmtime-wasi-http's own resources: a host resource made in
    Python is refused, and the C API has no constructor for either."""
    engine = wasmtime.Engine()
    component = wc.Component(engine, HANDLER)
    linker = wc.Linker(engine)
    linker.add_wasip2()
    linker.add_wasi_http()
    store = wasmtime.Store(engine)
    store.set_wasi(wasmtime.WasiConfig())
    store.set_wasi_http()
    instance = linker.instantiate(store, component)
    interface = instance.get_export_index(store, "wasi:http/incoming-handler@0.2.0")
    handle = instance.get_func(store, instance.get_export_index(store, "handle", interface))
    with pytest.raises(wasmtime.WasmtimeError, match="mismatched resource types"):
        handle(store, wc.ResourceHost.own(1, 1), wc.ResourceHost.own(2, 1))
    http = sorted(name for name in dir(bindings) if "http" in name and name[0] != "_")
    assert http == [
        "wasmtime_component_linker_add_wasi_http",
        "wasmtime_component_linker_add_wasi_http_async",
        "wasmtime_context_set_wasi_http",
    ]


def test_wess_refuses_handlers_naming_the_import():
    """Until then a component importing wasi:http is refused at upload, by name."""
    with Runtime() as runtime, pytest.raises(UnknownImport) as caught:
        runtime.load(bytes(wasmtime.wat2wasm(HANDLER)))
    assert caught.value.context["import_name"] == "wasi:http/types@0.2.0"
