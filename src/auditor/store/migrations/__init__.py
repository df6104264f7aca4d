"""Alembic migrations of the auditor schema (configured in code by auditor.store.migrate; no alembic.ini)."""
