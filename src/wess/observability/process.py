"""What the process and its data directory use, read when Prometheus scrapes.

The original Wess sampled these every 15 s in a background task; here they are read
at scrape time (``Gauge.set_function``), so nothing runs between scrapes and the value
is as fresh as the scrape. Clocks and readers are constructor arguments, so a test
gives fake ones and checks the arithmetic, not the machine.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

STATM = Path("/proc/self/statm")
"""Linux: the process's memory in pages; the second field is the resident set."""


def resident_bytes() -> float:
    """The process's resident memory now (Linux), else its peak (other systems)."""
    try:
        pages = int(STATM.read_text().split()[1])
    except (OSError, IndexError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return float(peak if sys.platform == "darwin" else peak * 1024)
    return float(pages * os.sysconf("SC_PAGE_SIZE"))


class CpuUsage:
    """CPU used by the process since the previous reading, in percent of one core (as
    the original ``wess_cpu_usage``: 200 is two cores busy). The first reading covers
    the time since this object was made."""

    def __init__(
        self,
        *,
        cpu_clock: Callable[[], float] = time.process_time,
        wall_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cpu_clock = cpu_clock
        self._wall_clock = wall_clock
        self._cpu = cpu_clock()
        self._wall = wall_clock()

    def percent(self) -> float:
        cpu, wall = self._cpu_clock(), self._wall_clock()
        used, elapsed = cpu - self._cpu, wall - self._wall
        if elapsed <= 0:
            return 0.0  # two scrapes at one instant: nothing measurable in between
        self._cpu, self._wall = cpu, wall
        return round(100.0 * used / elapsed, 1)


def directory_size(path: Path) -> float:
    """Bytes of the regular files directly in ``path`` (a RocksDB directory keeps its
    SST files, write-ahead logs and manifests there, flat): one ``scandir``, no walk.
    0 when the directory is gone."""
    total = 0
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                try:
                    if entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
                except FileNotFoundError:  # compaction removed it between list and stat
                    continue
    except FileNotFoundError:
        return 0.0
    return float(total)
