"""Cache sizes: a byte budget written with a unit, or a plain number of entries."""

from __future__ import annotations

import pytest

from wess.config import load_settings
from wess.config.sizes import CacheSize, parse_cache_size
from wess.errors import ConfigError


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("64MiB", CacheSize(max_bytes=64 << 20)),
        ("512KB", CacheSize(max_bytes=512_000)),
        ("512 kib", CacheSize(max_bytes=512 << 10)),
        ("1.5GiB", CacheSize(max_bytes=3 << 29)),
        ("0B", CacheSize(max_bytes=0)),
        (1024, CacheSize(max_entries=1024)),
        ("1024", CacheSize(max_entries=1024)),
        (0, CacheSize(max_entries=0)),
    ],
)
def test_the_unit_decides_bytes_or_entries(written: object, expected: CacheSize) -> None:
    """With a unit it is bytes (KB = 1000, KiB = 1024); a plain number counts entries."""
    assert parse_cache_size(written) == expected


@pytest.mark.parametrize("written", ["64 parsecs", "MiB", "-1", -1, 1.5, True, "", None, "1e6B"])
def test_anything_else_is_refused(written: object) -> None:
    """Unknown units, negatives, fractions of an entry and booleans are refused."""
    with pytest.raises(ValueError, match=r"cache size|entries"):
        parse_cache_size(written)


def test_a_byte_count_without_unit_is_refused_with_a_hint() -> None:
    """67108864 was Wess's byte default: as a plain number it is refused, and the message
    says how to write it as bytes."""
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"WESS_READER_CACHE_SIZE": "67108864"})
    message = str(caught.value)
    assert "reader.cache_size" in message
    assert '"64MiB"' in message


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (CacheSize(max_bytes=64 << 20), "64MiB"),
        (CacheSize(max_bytes=512_000), "500KiB"),
        (CacheSize(max_bytes=10**6), "1MB"),
        (CacheSize(max_bytes=1000 << 10), "1000KiB"),
        (CacheSize(max_bytes=7), "7B"),
        (CacheSize(max_bytes=0), "0B"),
        (CacheSize(max_entries=100), "100"),
    ],
)
def test_sizes_are_shown_as_they_are_written(size: CacheSize, shown: str) -> None:
    """What `wess config show` and the docs print reads back to the same size."""
    assert str(size) == shown
    assert parse_cache_size(shown) == size


def test_defaults_are_byte_budgets() -> None:
    """Unset, the Reader keeps 64 MiB of modules and the Runner 64 MiB of compiled ones."""
    settings = load_settings(env={}).settings
    assert settings.reader.cache_size == CacheSize(max_bytes=64 << 20)
    assert settings.runner.cache_size == CacheSize(max_bytes=64 << 20)
    dumped = settings.model_dump(mode="json")
    assert (dumped["reader"]["cache_size"], dumped["runner"]["cache_size"]) == ("64MiB", "64MiB")
    entries = load_settings(env={"WESS_RUNNER_CACHE_SIZE": "10"}).settings
    assert entries.model_dump(mode="json")["runner"]["cache_size"] == 10


def test_exactly_one_bound() -> None:
    """A CacheSize is bytes or entries, never both or neither."""
    with pytest.raises(ValueError, match="either"):
        CacheSize()
    with pytest.raises(ValueError, match="either"):
        CacheSize(max_bytes=1, max_entries=1)
