"""Wess, the WebAssembly Service System.

The embedding API runs untrusted WebAssembly in-process, each call in a fresh
sandbox, exactly as the Wess server does::

    from wess import Runtime, Limits

    with Runtime(limits=Limits(max_memory=64 << 20, timeout_ms=1000)) as rt:
        program = rt.load(wasm_bytes)
        program.function("sum")(1, 2)    # [3]
"""

from __future__ import annotations

from wess.errors import WessError
from wess.runtime import (
    Function,
    Invocation,
    Limits,
    ModuleAnalysis,
    Program,
    Runtime,
    RuntimeConfig,
)

__version__ = "0.1.0"

__all__ = [
    "Function",
    "Invocation",
    "Limits",
    "ModuleAnalysis",
    "Program",
    "Runtime",
    "RuntimeConfig",
    "WessError",
]
