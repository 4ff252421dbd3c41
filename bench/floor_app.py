"""The performance floor: the smallest honest HTTP service that runs a stored
WebAssembly function, written the way wasmtime-py documents it.

Mirrors the reference ``floor_app.py`` of the project's shared bench (its README
defines what P2 and P3 measure against it): the same code path, kept here so that
``make bench`` runs in a clone placed anywhere. Change it only with the reference.

It keeps one compiled module in memory and, for every request, makes a fresh
Store, instantiates the module and calls `sum(i32, i32)` with the JSON array
in the body. No auth, no metrics, no storage, no limits. Wess, with all of its
production features switched on, is measured against this on the same machine,
in the same run, with the same load generator.

Run:  uvicorn floor_app:app --app-dir bench --port 9901 \
          --loop uvloop --http httptools --no-access-log --log-level warning
Load: POST /run  body [1,2]   ->  {"results":[3]}
"""

import orjson
import wasmtime

_WAT = '(module (func (export "sum") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))'
_engine = wasmtime.Engine()
_pre = wasmtime.Linker(_engine).instantiate_pre(wasmtime.Module(_engine, _WAT))


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    store = wasmtime.Store(_engine)
    instance = _pre.instantiate(store)
    result = instance.exports(store)["sum"](store, *orjson.loads(body))
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": orjson.dumps({"results": [result]})})
