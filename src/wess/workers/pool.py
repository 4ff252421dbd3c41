"""The size of the Runner's invocation pool when nothing asks for another: one place.

``workers`` threads run calls; ``module_concurrency`` of them at most serve one module
(its bulkhead). With ``THREADS_PER_CORE`` threads per core and one module's calls
capped at one per core, a module busy on every core still leaves threads for the
others. The configuration documents these numbers from here (``runner.workers = 0``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

THREADS_PER_CORE = 2
"""Invocation threads per core by default."""
MODULE_CALLS_PER_CORE = 1
"""Calls of one module running at once, per core, by default."""


@dataclass(frozen=True, slots=True)
class PoolSize:
    """How many invocation threads, and how many of them one module may use."""

    workers: int
    module_concurrency: int


def pool_size(
    *, workers: int | None = None, module_concurrency: int | None = None, cores: int | None = None
) -> PoolSize:
    """The pool for these settings (None or 0: the default) on ``cores`` (default: this
    machine's). The default share of one module is never more than the pool has."""
    cores = cores or os.cpu_count() or 1
    threads = workers or THREADS_PER_CORE * cores
    per_module = module_concurrency or min(MODULE_CALLS_PER_CORE * cores, threads)
    return PoolSize(workers=threads, module_concurrency=per_module)
