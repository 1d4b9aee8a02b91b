"""Fixtures of the governance store: a fresh database on SQLite and on PostgreSQL (see conftest.py)."""
