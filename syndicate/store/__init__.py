"""Storage: the Store over SQLAlchemy Core, on SQLite or PostgreSQL.

Contract: every method may raise StorageError (the driver's error chained); all datetimes
given and returned are timezone-aware (returned in UTC); `upgrade()` applies migrations.
"""

from .sql import Store

__all__ = ["Store"]
