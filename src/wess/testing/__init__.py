"""Test doubles for Wess and for programs that embed or call it.

Like ``structlog.testing`` and httpx's ``MockTransport``, these ship with the package:

- ``FakeClock``: time that moves only when told.
- ``MemoryStore``: the in-memory ``Store`` (every concept, nothing durable).
- ``RecordingStore``: any ``Store``, its calls counted, failed or held on demand.
- ``RecordingObserver``: the runtime's cache and compile events, kept for assertions.
- ``test_settings``, ``open_client``: a started Wess (the real app over real parts) and
  an HTTP client of it, in process; ``assert_problem`` checks an error answer.
- ``Scrape``: a ``/metrics`` page read back (families, values, series count).
- ``SpanRecorder``: tracing whose spans stay in memory (``open_client(tracing=...)``).
"""

from wess.storage.memory import MemoryStore
from wess.testing.app import TestClient, admin_token, assert_problem, open_client, test_settings
from wess.testing.clock import FakeClock
from wess.testing.observer import RecordingObserver
from wess.testing.scrape import Scrape
from wess.testing.store import Gate, RecordingStore
from wess.testing.tracing import SpanRecorder

__all__ = [
    "FakeClock",
    "Gate",
    "MemoryStore",
    "RecordingObserver",
    "RecordingStore",
    "Scrape",
    "SpanRecorder",
    "TestClient",
    "admin_token",
    "assert_problem",
    "open_client",
    "test_settings",
]
