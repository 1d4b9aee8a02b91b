"""Fixtures of outgoing email: a real SMTP server on loopback that keeps what it receives (see conftest.py)."""
