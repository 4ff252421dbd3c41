"""The embedded RocksDB backend (the default): ``RocksStore`` and its concept stores."""

from wess.storage.rocks.store import RocksStore

__all__ = ["RocksStore"]
