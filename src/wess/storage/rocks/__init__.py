"""The embedded RocksDB backend (the default): ``RocksStore`` and its concept stores."""

from wess.storage.rocks.database import UNLIMITED_OPEN_FILES
from wess.storage.rocks.store import RocksStore

__all__ = ["UNLIMITED_OPEN_FILES", "RocksStore"]
