"""The compile worker process: compiles what the server sends, under per-compile caps.

Started by ``isolated.IsolatedCompiler`` (spawned: it shares no threads or locks with
the server). For each module it lowers RLIMIT_CPU's soft limit to the CPU time used so
far plus the cap (SIGXCPU stops it past the cap) and sets RLIMIT_AS to its address
space plus the memory cap (an allocation past it fails), compiles, and answers with
bytes: ``ARTIFACT`` + ``encode_artifact``, ``ERROR`` + the error as JSON,
``OUT_OF_MEMORY``, or ``FAILED`` + a description. Linux only (``/proc/self/statm``).
"""

from __future__ import annotations

import math
import resource
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection

import orjson

from wess.errors import WessError
from wess.runtime.artifact import encode_artifact, flavor_of
from wess.runtime.compiling import artifact_of, compile_wasm
from wess.runtime.component import compile_component, component_artifact
from wess.runtime.engine import RuntimeConfig, build_engine
from wess.runtime.host import build_linker
from wess.runtime.wasmbin import is_component

ARTIFACT, ERROR, OUT_OF_MEMORY, FAILED = b"A", b"E", b"M", b"X"


@dataclass(frozen=True, slots=True, kw_only=True)
class CompileCaps:
    """What one compile may use: a core module's caps, and a component's (larger: a
    componentize-py component is 18 MB)."""

    cpu_seconds: int
    memory: int
    component_cpu_seconds: int
    component_memory: int

    def of(self, wasm: bytes) -> tuple[int, int]:
        """The CPU seconds and memory bytes a compile of ``wasm`` may use."""
        if is_component(wasm):
            return self.component_cpu_seconds, self.component_memory
        return self.cpu_seconds, self.memory


def worker_main(connection: Connection, config: RuntimeConfig, caps: CompileCaps) -> None:
    """A worker's life: compile each module the server sends, under the caps, until EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when workers stop
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a capped compile leaves no core file
    engine = build_engine(config)
    linker = build_linker(engine)
    flavor = flavor_of(config)
    while True:
        try:
            digest = connection.recv_bytes().decode()
            wasm = connection.recv_bytes()
        except EOFError:
            return
        _cap(*caps.of(wasm))
        try:
            if is_component(wasm):
                component = compile_component(
                    engine, wasm, digest=digest, max_bytes=config.max_module_bytes
                )
                artifact = component_artifact(component, flavor=flavor)
            else:
                compiled = compile_wasm(
                    engine, linker, wasm, digest=digest, max_module_bytes=config.max_module_bytes
                )
                artifact = artifact_of(compiled, flavor=flavor)
            reply = ARTIFACT + encode_artifact(artifact)
        except WessError as exc:
            document = {"code": exc.code, "detail": exc.detail, "context": dict(exc.context)}
            reply = ERROR + orjson.dumps(document)
        except MemoryError:
            reply = OUT_OF_MEMORY
        except Exception as exc:  # reported, never allowed to end the worker silently
            reply = FAILED + orjson.dumps({"detail": repr(exc)})
        finally:
            _uncap_memory()
        connection.send_bytes(reply)


def _cap(cpu_seconds: int, memory: int) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(
        resource.RLIMIT_CPU, (_within(math.ceil(used + cpu_seconds), cpu_hard), cpu_hard)
    )
    _, as_hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (_within(_address_space() + memory, as_hard), as_hard))


def _uncap_memory() -> None:
    _, as_hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (as_hard, as_hard))


def _within(soft: int, hard: int) -> int:
    return soft if hard == resource.RLIM_INFINITY else min(soft, hard)


def _address_space() -> int:
    """The process's virtual size in bytes (``/proc/self/statm``: Linux)."""
    with open("/proc/self/statm", "rb") as statm:
        pages = int(statm.read().split()[0])
    return pages * resource.getpagesize()
