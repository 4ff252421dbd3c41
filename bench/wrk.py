"""Load from ``wrk`` (Debian's package), its numbers read back through a Lua ``done()``.

Each run writes a small Lua script that sets the method, body and headers, and whose
``done()`` prints one ``WRK_RESULT {...}`` line: requests, duration, socket errors,
non-2xx/3xx answers, and latency percentiles (microseconds) from wrk's own histogram.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from figures import say

MARKER = "WRK_RESULT "
PERCENTILES = (
    *range(0, 100, 5),
    97.5,
    99.0,
    99.5,
    99.9,
    99.95,
    99.99,
    100.0,
)

DONE = """
local percentiles = {%(percentiles)s}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%(marker)s{"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,' ..
    '"status":%%d,"timeout":%%d,"mean_us":%%f,"percentiles":[',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean))
  for i, p in ipairs(percentiles) do
    if i > 1 then io.write(",") end
    local value = latency:percentile(p)
    if p >= 100 then value = latency.max end  -- wrk answers 0 for the 100th percentile
    io.write(string.format("[%%g,%%d]", p, value))
  end
  io.write("]}\\n")
end
"""


@dataclass(frozen=True)
class Target:
    """What one side of a comparison is loaded with."""

    name: str
    url: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    method: str = "POST"


@dataclass
class WrkResult:
    target: str
    connections: int
    requests: int
    duration_s: float
    socket_errors: int
    bad_status: int
    percentiles_us: list[tuple[float, float]]

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    def percentile_ms(self, wanted: float) -> float:
        for p, value in self.percentiles_us:
            if p == wanted:
                return value / 1000.0
        raise KeyError(wanted)

    def as_data(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "requests": self.requests,
            "duration_s": self.duration_s,
            "requests_per_s": self.requests_per_s,
            "socket_errors": self.socket_errors,
            "bad_status": self.bad_status,
            "percentiles_us": self.percentiles_us,
        }


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (make bench does, as root)")
    return found


def lua_string(data: bytes) -> str:
    """Any bytes as a Lua string literal (decimal escapes survive binary bodies)."""
    return '"' + "".join(f"\\{byte}" for byte in data) + '"'


def script(target: Target) -> str:
    lines = [f'wrk.method = "{target.method}"', f"wrk.body = {lua_string(target.body)}"]
    for name, value in target.headers.items():
        lines.append(f"wrk.headers[{lua_string(name.encode())}] = {lua_string(value.encode())}")
    shown = ", ".join(f"{p:g}" for p in PERCENTILES)
    return "\n".join(lines) + DONE % {"percentiles": shown, "marker": MARKER}


def run(
    target: Target,
    *,
    connections: int,
    duration_s: float,
    threads: int = 1,
    timeout_s: float | None = None,
) -> WrkResult:
    """``wrk -t<threads> -c<connections> -d<duration>s -s <script> <url>``."""
    with tempfile.TemporaryDirectory(prefix="wess-wrk-") as scratch:
        lua = Path(scratch) / "load.lua"
        lua.write_text(script(target))
        command = [
            wrk_binary(),
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration_s:g}s",
            "-s",
            str(lua),
        ]
        if timeout_s is not None:
            command.append(f"--timeout={timeout_s:g}s")
        command.append(target.url)
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=duration_s + 120, check=False
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARKER)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"wrk failed ({done.returncode}) on {target.url}:\n{done.stdout}\n{done.stderr}"
        )
    raw = json.loads(lines[-1][len(MARKER) :])
    return WrkResult(
        target=target.name,
        connections=connections,
        requests=raw["requests"],
        duration_s=raw["duration_us"] / 1e6,
        socket_errors=raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
        bad_status=raw["status"],
        percentiles_us=[(float(p), float(v)) for p, v in raw["percentiles"]],
    )


def alternate(
    targets: Sequence[Target], *, rounds: int, connections: int, duration_s: float
) -> dict[str, list[WrkResult]]:
    """``rounds`` runs of each target, interleaved, the order flipped every round (ABBA),
    so slow drift of the machine falls on both sides alike."""
    results: dict[str, list[WrkResult]] = {t.name: [] for t in targets}
    for number in range(rounds):
        order = targets if number % 2 == 0 else list(reversed(targets))
        for target in order:
            result = run(target, connections=connections, duration_s=duration_s)
            say(
                f"  round {number + 1}/{rounds} {target.name:5s} -c{connections}: "
                f"{result.requests_per_s:9.0f} req/s  p99 {result.percentile_ms(99.0):7.2f} ms"
                + (f"  {result.bad_status} non-2xx" if result.bad_status else "")
                + (f"  {result.socket_errors} socket errors" if result.socket_errors else "")
            )
            results[target.name].append(result)
    return results
