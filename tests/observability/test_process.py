"""Process and disk figures read at scrape time: CPU percent, resident memory, the size
of the data directory."""

from __future__ import annotations

from pathlib import Path

from wess.observability.metrics import Metrics
from wess.observability.process import CpuUsage, directory_size, resident_bytes
from wess.testing import FakeClock


def test_cpu_usage_is_percent_of_one_core_since_the_previous_reading() -> None:
    """Two seconds of CPU in one second of wall time is 200 (two cores busy), like the
    original wess_cpu_usage; the next reading covers only the time after it."""
    wall, cpu = FakeClock(), FakeClock()
    usage = CpuUsage(cpu_clock=cpu.monotonic, wall_clock=wall.monotonic)
    wall.advance(1.0)
    cpu.advance(2.0)
    assert usage.percent() == 200.0
    wall.advance(4.0)
    cpu.advance(1.0)
    assert usage.percent() == 25.0
    assert usage.percent() == 0.0  # no time passed: nothing to measure, no division


def test_cpu_and_memory_gauges_read_their_sources_when_scraped() -> None:
    """wess_cpu_usage and wess_memory_usage are computed at scrape, from the sources."""
    wall, cpu = FakeClock(), FakeClock()
    metrics = Metrics(
        cpu=CpuUsage(cpu_clock=cpu.monotonic, wall_clock=wall.monotonic), memory=lambda: 4096.0
    )
    wall.advance(2.0)
    cpu.advance(1.0)
    assert metrics.registry.get_sample_value("wess_cpu_usage") == 50.0
    assert metrics.registry.get_sample_value("wess_memory_usage") == 4096.0


def test_resident_memory_is_measured() -> None:
    """The process has some resident memory, in bytes (more than a page)."""
    assert resident_bytes() > 4096


def test_directory_size_adds_up_the_files_of_the_directory(tmp_path: Path) -> None:
    """Regular files directly in the directory count; a subdirectory's do not (RocksDB
    keeps its files flat), nor a missing directory (0)."""
    (tmp_path / "000012.sst").write_bytes(b"x" * 1000)
    (tmp_path / "000013.log").write_bytes(b"y" * 24)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "other").write_bytes(b"z" * 500)
    assert directory_size(tmp_path) == 1024
    assert directory_size(tmp_path / "gone") == 0
