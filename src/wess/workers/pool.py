"""The size of the Runner's pools when nothing asks for another: one place.

``workers`` threads run calls; ``module_concurrency`` of them at most serve one module
(its bulkhead) and ``namespace_concurrency`` one namespace (its fair share, see
``fairness``). With ``THREADS_PER_CORE`` threads per core, one module's calls capped
at one per core and one namespace's at half the pool, a namespace busy on every core
still leaves threads for the others. Compiles run in ``COMPILE_WORKERS`` worker
processes by default, half of them at most for one namespace. The configuration
documents these numbers from here (``runner.workers = 0`` and the like).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

THREADS_PER_CORE = 2
"""Invocation threads per core by default."""
MODULE_CALLS_PER_CORE = 1
"""Calls of one module running at once, per core, by default."""
SHARE_OF_POOL = 2
"""One namespace holds at most 1/SHARE_OF_POOL of a pool by default (at least one slot)."""
COMPILE_WORKERS = 2
"""Compile worker processes by default: a slow compile leaves one for the others."""
COMPILES_QUEUED = 128
"""Compiles waiting or running across every namespace by default, past which one more
is refused (the compile pool's bulkhead)."""


@dataclass(frozen=True, slots=True)
class PoolSize:
    """How many invocation threads, and how many of them one module may use."""

    workers: int
    module_concurrency: int
    namespace_concurrency: int


def pool_size(
    *,
    workers: int | None = None,
    module_concurrency: int | None = None,
    namespace_concurrency: int | None = None,
    cores: int | None = None,
) -> PoolSize:
    """The pool for these settings (None or 0: the default) on ``cores`` (default: this
    machine's). The default share of one module is never more than the pool has."""
    cores = cores or os.cpu_count() or 1
    threads = workers or THREADS_PER_CORE * cores
    per_module = module_concurrency or min(MODULE_CALLS_PER_CORE * cores, threads)
    per_namespace = fair_share(threads, namespace_concurrency)
    return PoolSize(
        workers=threads, module_concurrency=per_module, namespace_concurrency=per_namespace
    )


def fair_share(slots: int, configured: int | None = None) -> int:
    """The most slots of a pool of ``slots`` one namespace holds: ``configured`` (None or
    0: the default, 1/SHARE_OF_POOL of the pool, at least one), never more than the pool."""
    return min(configured or max(1, slots // SHARE_OF_POOL), slots)
