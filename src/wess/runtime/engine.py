"""The wasmtime Engine Wess runs on, and the thread that advances its epoch.

One Engine per ``Runtime``: fuel consumption and epoch interruption are always
compiled in, so any call can be metered or timed out without a second engine.
Threads (shared memories) and multiple memories are off: with a single linear
memory, ``Limits.max_memory`` bounds all of a guest's linear memory.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, fields

import wasmtime

from wess.errors import ConfigError
from wess.runtime.clocks import DEFAULT_RESOLUTION_NS

UNMETERED_FUEL = (1 << 63) - 1
"""The fuel of a call without a fuel limit: wasmtime stores fuel as a signed 64-bit
count, so this is the most a Store can hold (about a century of guest time)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeConfig:
    """How the Runtime itself is built; settings, not per-call limits.

    ``max_wasm_stack`` is the guest stack per call (bytes), set explicitly on the
    engine; ``epoch_tick_ms`` the period of the epoch ticker, so a timeout fires at
    most one tick late; ``cache_bytes`` the byte budget of the compiled-module cache
    and ``cache_entries`` the most modules it holds (None lifts either bound);
    ``max_module_bytes`` the largest module it compiles; ``fast_path`` calls guest
    functions through wasmtime's C API directly where it can (see ``fastcall``);
    ``clock_resolution_ns`` is the resolution of the clocks guests read (see ``clocks``);
    ``max_component_instances`` bounds the core instances of a component call's Store.
    """

    max_wasm_stack: int = 512 << 10
    epoch_tick_ms: int = 10
    cache_bytes: int | None = 256 << 20
    cache_entries: int | None = None
    max_module_bytes: int = 64 << 20
    fast_path: bool = True
    clock_resolution_ns: int = DEFAULT_RESOLUTION_NS
    max_component_instances: int = 100

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name == "fast_path":
                if not isinstance(value, bool):
                    raise ConfigError(f"fast_path must be a bool, got {value!r}")
                continue
            if value is None and field.name in ("cache_bytes", "cache_entries"):
                continue
            minimum = (
                1 if field.name in ("epoch_tick_ms", "max_wasm_stack", "clock_resolution_ns") else 0
            )
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ConfigError(
                    f"{field.name} must be an integer >= {minimum}, got {value!r}", field=field.name
                )


def engine_settings(config: RuntimeConfig) -> dict[str, bool | int]:
    """Every ``wasmtime.Config`` setting Wess changes from wasmtime's defaults.

    They shape the generated code, so they are part of an AOT artifact's flavor
    (``artifact.flavor_of``): add a setting here, never straight to the engine.
    """
    return {
        "consume_fuel": True,
        "epoch_interruption": True,
        "max_wasm_stack": config.max_wasm_stack,
        "wasm_threads": False,
        "wasm_multi_memory": False,
    }


def build_engine(config: RuntimeConfig) -> wasmtime.Engine:
    """A wasmtime Engine with metering, interruption and Wess's feature set."""
    engine_config = wasmtime.Config()
    for name, value in engine_settings(config).items():
        setattr(engine_config, name, value)
    return wasmtime.Engine(engine_config)


class EpochTicker:
    """A daemon thread that increments the engine's epoch every tick.

    A Store's deadline is a number of ticks, so wall-clock limits cost the guest
    nothing but a counter check at loop heads and function entries.
    """

    def __init__(self, engine: wasmtime.Engine, *, tick_ms: int) -> None:
        self._engine = engine
        self._tick_seconds = tick_ms / 1000
        self._tick_ms = tick_ms
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wess-epoch-ticker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop ticking and wait for the thread to end; idempotent."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def deadline_ticks(self, timeout_ms: int) -> int:
        """Ticks after which a call of ``timeout_ms`` is interrupted.

        The first tick may come at once, so one tick more than the quotient makes
        the limit a lower bound: a call runs at least ``timeout_ms`` and at most one
        tick longer.
        """
        return math.ceil(timeout_ms / self._tick_ms) + 1

    def _run(self) -> None:
        while not self._stop.wait(self._tick_seconds):
            self._engine.increment_epoch()
