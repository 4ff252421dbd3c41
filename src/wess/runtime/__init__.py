"""The embedding API: load WebAssembly modules and call their functions, sandboxed.

    from wess.runtime import Runtime, Limits

    with Runtime(limits=Limits(max_memory=64 << 20, timeout_ms=1000)) as rt:
        sum_ = rt.load(wasm).function("sum")
        sum_(1, 2)                       # [3], in a fresh instance
        sum_.invoke([1, 2], limits=rt.limits.narrowed(timeout_ms=100))

Knows neither HTTP nor storage; the Runner worker serves it to the HTTP API.
"""

from __future__ import annotations

from wess.runtime.analysis import ModuleAnalysis
from wess.runtime.engine import RuntimeConfig
from wess.runtime.invocation import Invocation
from wess.runtime.limits import Limits
from wess.runtime.observer import RuntimeObserver
from wess.runtime.program import Function, Program
from wess.runtime.runtime import Runtime

__all__ = [
    "Function",
    "Invocation",
    "Limits",
    "ModuleAnalysis",
    "Program",
    "Runtime",
    "RuntimeConfig",
    "RuntimeObserver",
]
