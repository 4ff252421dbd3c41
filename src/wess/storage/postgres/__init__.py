"""The PostgreSQL backend, for several nodes sharing one database: ``PostgresStore``."""

from wess.storage.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
