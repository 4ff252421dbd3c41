"""The durability gate of the RocksDB store: what readers may see while a batch syncs."""

from __future__ import annotations

import threading

import pytest

from wess.errors import StorageUnavailable
from wess.storage.rocks.gate import DurabilityGate


def test_a_reader_waits_while_a_batch_syncs_and_enters_once_it_is_durable() -> None:
    """While the gate is closed (a batch written, its sync running) a read waits; the
    opening after the sync lets it in."""
    gate = DurabilityGate()
    gate.close()
    entered = threading.Event()

    def read() -> None:
        with gate.reading():
            entered.set()

    reader = threading.Thread(target=read)
    reader.start()
    while gate._waiting == 0:  # the reader reached the closed gate
        threading.Event().wait(0.001)
    assert not entered.is_set()
    gate.open()
    reader.join()
    assert entered.is_set()


def test_the_next_write_waits_for_the_readers_the_opening_let_in() -> None:
    """Readers let in by an opening read before the next batch is written: a writer
    closing the gate waits until they left."""
    gate = DurabilityGate()
    inside = threading.Event()
    leave = threading.Event()

    def read() -> None:
        with gate.reading():
            inside.set()
            leave.wait()

    reader = threading.Thread(target=read)
    reader.start()
    inside.wait()
    closed = threading.Event()
    writer = threading.Thread(target=lambda: (gate.close(), closed.set()))
    writer.start()
    while not gate._closing:  # the writer waits for the reader inside
        threading.Event().wait(0.001)
    assert not closed.is_set()
    leave.set()
    writer.join()
    reader.join()
    assert closed.is_set()


def test_a_failed_sync_breaks_the_gate_for_every_later_read_and_write() -> None:
    """After a sync failed, a written batch may be visible yet not durable: reads and
    writes are refused from then on, with the reason."""
    gate = DurabilityGate()
    gate.close()
    gate.break_for_good("syncing its log failed")
    with pytest.raises(StorageUnavailable, match="syncing its log failed"), gate.reading():
        pass
    with pytest.raises(StorageUnavailable, match="syncing its log failed"):
        gate.close()
