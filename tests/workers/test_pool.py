"""The invocation pool's default size: two threads per core, one module's calls on at
most one per core; explicit settings are kept as given."""

from __future__ import annotations

import pytest

from wess.config import load_settings
from wess.workers.pool import PoolSize, pool_size


@pytest.mark.parametrize(
    ("settings", "cores", "expected"),
    [
        ({}, 2, PoolSize(workers=4, module_concurrency=2)),
        ({}, 8, PoolSize(workers=16, module_concurrency=8)),
        ({"workers": 0, "module_concurrency": 0}, 1, PoolSize(workers=2, module_concurrency=1)),
        ({"workers": 3}, 8, PoolSize(workers=3, module_concurrency=3)),
        ({"workers": 3, "module_concurrency": 5}, 8, PoolSize(workers=3, module_concurrency=5)),
        ({"module_concurrency": 1}, 4, PoolSize(workers=8, module_concurrency=1)),
    ],
)
def test_pool_size(settings, cores, expected):
    """0 or None takes the default; the default share of a module never exceeds the pool."""
    assert pool_size(**settings, cores=cores) == expected


def test_the_configuration_documents_the_same_default():
    """runner.workers and runner.module_concurrency describe the numbers pool_size uses."""
    fields = type(load_settings(env={}).settings.runner).model_fields
    assert "0: 2 per core" in str(fields["workers"].description)
    assert "0: 1 per core" in str(fields["module_concurrency"].description)
    assert pool_size(cores=1) == PoolSize(workers=2, module_concurrency=1)
