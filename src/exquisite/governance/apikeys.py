"""Open311 clients' API keys: made once, shown once, kept only as their SHA-256.

GeoReport v2 asks for an ``api_key`` to post a service request. A key is a random token given to one
client (a city's app, a partner's integration); the store keeps its SHA-256 and a name saying whose it is::

    with store.session() as session:
        key = create_api_key(session, "Weihai 12345 hotline")   # shown once to the person who asked
    with store.session() as session:
        found = check_api_key(session, key)                     # the ApiKey row, or None
        revoke_api_key(session, found.id)                       # the key stops working
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from exquisite.errors import InputError
from exquisite.governance.models import ApiKey
from exquisite.governance.reports import plain_text_problem

#: Random bytes in a key (256 bits: not guessable, as ASVS v5.0.0-7.2.3 asks of tokens).
KEY_BYTES = 32
#: What every key starts with, so that one found in a log or a repository is recognised as ours.
KEY_PREFIX = "exq_"
#: The longest name of a key (the column's width).
NAME_MAX_CHARS = 200


def key_hash(key: str) -> str:
    """SHA-256 (hex) of a key: what the store keeps."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_api_key(session: Session, name: str) -> str:
    """Make a key for the client ``name``; return the key itself (it cannot be shown again).

    Parameters
    ----------
    session
        An open session; the key is usable once its transaction commits.
    name
        Who the key is for (plain text, one line, at most :data:`NAME_MAX_CHARS` characters).

    Raises
    ------
    InputError
        For the field ``name``: empty, too long, several lines or markup.
    """
    name = name.strip()
    if not name:
        raise InputError("name", "is empty", "Say who the key is for, e.g. 'City hotline app'.")
    if "\n" in name or "\r" in name:
        raise InputError("name", "has several lines", "Write the name on one line.")
    problem = plain_text_problem("name", name, NAME_MAX_CHARS)
    if problem is not None:
        raise InputError("name", problem.message.removeprefix("name: "), "Write a short plain name.")
    key = KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)
    session.add(ApiKey(key_hash=key_hash(key), name=name, active=True, created_at=datetime.now(UTC)))
    session.flush()
    return key


def check_api_key(session: Session, key: str | None) -> ApiKey | None:
    """The active key ``key`` is, or None (no key, an unknown one, or a revoked one)."""
    if not key:
        return None
    found = session.scalars(select(ApiKey).where(ApiKey.key_hash == key_hash(key))).first()
    return found if found is not None and found.active else None


def revoke_api_key(session: Session, key_id: int) -> bool:
    """Stop the key of id ``key_id`` from working; whether there was such an active key."""
    found = session.get(ApiKey, key_id)
    if found is None or not found.active:
        return False
    found.active = False
    return True


def list_api_keys(session: Session) -> list[ApiKey]:
    """Every key (active and revoked), oldest first: id, name, active, created_at (never the key)."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))
