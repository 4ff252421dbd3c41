"""The pools' default sizes: two invocation threads per core, one module's calls on at
most one per core, one namespace's on at most half the pool; explicit settings are
kept as given."""

from __future__ import annotations

import pytest

from wess.config import load_settings
from wess.workers.pool import COMPILE_WORKERS, PoolSize, fair_share, pool_size


@pytest.mark.parametrize(
    ("settings", "cores", "expected"),
    [
        ({}, 2, PoolSize(workers=4, module_concurrency=2, namespace_concurrency=2)),
        ({}, 8, PoolSize(workers=16, module_concurrency=8, namespace_concurrency=8)),
        (
            {"workers": 0, "module_concurrency": 0, "namespace_concurrency": 0},
            1,
            PoolSize(workers=2, module_concurrency=1, namespace_concurrency=1),
        ),
        ({"workers": 3}, 8, PoolSize(workers=3, module_concurrency=3, namespace_concurrency=1)),
        (
            {"workers": 3, "module_concurrency": 5},
            8,
            PoolSize(workers=3, module_concurrency=5, namespace_concurrency=1),
        ),
        (
            {"module_concurrency": 1},
            4,
            PoolSize(workers=8, module_concurrency=1, namespace_concurrency=4),
        ),
        (
            {"workers": 4, "namespace_concurrency": 3},
            2,
            PoolSize(workers=4, module_concurrency=2, namespace_concurrency=3),
        ),
    ],
)
def test_pool_size(settings, cores, expected):
    """0 or None takes the default; the default share of a module never exceeds the pool."""
    assert pool_size(**settings, cores=cores) == expected


@pytest.mark.parametrize(
    ("slots", "configured", "expected"),
    [(1, None, 1), (2, None, 1), (3, None, 1), (4, None, 2), (9, 0, 4), (4, 3, 3), (4, 9, 4)],
)
def test_a_namespace_share_is_half_the_pool_at_least_one_never_more(slots, configured, expected):
    """Half the slots, rounded down but at least one; a configured share stays within the pool."""
    assert fair_share(slots, configured) == expected


def test_the_configuration_documents_the_same_default():
    """runner.workers, runner.module_concurrency, runner.namespace_concurrency and the
    compile settings describe the numbers pool_size and fair_share use."""
    settings = load_settings(env={}).settings
    runner = type(settings.runner).model_fields
    assert "0: 2 per core" in str(runner["workers"].description)
    assert "0: 1 per core" in str(runner["module_concurrency"].description)
    assert "0: 1/2 of runner.workers, at least 1" in str(
        runner["namespace_concurrency"].description
    )
    limits = type(settings.limits).model_fields
    assert "0: 1/2 of limits.compile_workers" in str(limits["namespace_compiles"].description)
    assert settings.limits.compile_workers == COMPILE_WORKERS
    assert pool_size(cores=1) == PoolSize(workers=2, module_concurrency=1, namespace_concurrency=1)
