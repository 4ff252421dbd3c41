"""The configuration's section about WebAssembly components (WASI 0.2).

Components are larger than core modules (a function written in Python and built by
componentize-py weighs about 18 MB and takes seconds of CPU to compile), so they have
limits of their own; every other limit (per-call sandbox, compile workers, fair
sharing) is the one core modules have.
"""

from __future__ import annotations

from pydantic import Field

from wess.config.section import Section as _Section

MAX_COMPONENT_SIZE = 32 << 20
COMPONENT_COMPILE_CPU_SECONDS = 120
COMPONENT_COMPILE_MEMORY = 4 << 30


class ComponentSettings(_Section):
    RELOADABLE = frozenset()  # read when the runtime and the upload routes are built
    max_size: int = Field(
        MAX_COMPONENT_SIZE,
        ge=1024,
        le=256 << 20,
        description="Largest accepted component, bytes (413 past it); core modules have "
        "limits.max_module_size.",
    )
    max_instances: int = Field(
        100,
        ge=1,
        le=10_000,
        description="Core instances one call of a component may create (its structure "
        "sets the count: a componentize-py component has 14); core modules have "
        "limits.max_instances.",
    )
    compile_cpu_seconds: int = Field(
        COMPONENT_COMPILE_CPU_SECONDS,
        ge=1,
        le=3600,
        description="CPU time one compile of a component may use, s (422 past it); a "
        "Python component (componentize-py, 18 MB) needs about 7 s on an idle machine.",
    )
    compile_memory: int = Field(
        COMPONENT_COMPILE_MEMORY,
        ge=16 << 20,
        le=64 << 30,
        description="Memory one compile of a component may add to its worker process, "
        "bytes (422 past it).",
    )
