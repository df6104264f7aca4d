"""Storage: SQLAlchemy tables and database connection."""

from auditor.store.db import database_url, open_database, session_factory

__all__ = ["database_url", "open_database", "session_factory"]
