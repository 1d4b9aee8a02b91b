"""Security building blocks of the governance service: passwords, tokens, the service's secret, IP hashes.

Pure functions, no web. The rules and the hashing parameters come from ``data/passwords.yml`` (OWASP ASVS 5.0,
v5.0.0-6.2.x, and the OWASP Password Storage Cheat Sheet); the list of common passwords is
``data/common_passwords.txt`` (Django's list, see its header).

::

    stored = hash_password("a long passphrase of mine")
    verify_password(stored, "a long passphrase of mine")   # True
    password_problem("password1234", "anna")                # "password: is one of the most common …"
    secret = load_secret(settings.data_dir)                 # 32 bytes, created once with mode 0600
    ip_hash(secret, "203.0.113.7")                          # 32 hex characters, never the IP itself
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import os
import secrets
import stat
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from exquisite.errors import InputError

#: The service's secret key file in the data folder, and its size in bytes (HMAC-SHA256 keys: 32).
SECRET_FILE = "secret.key"
SECRET_BYTES = 32
#: Hex characters kept of an IP's HMAC: 128 bits, enough to tell addresses apart, too few to be a full MAC.
IP_HASH_CHARS = 32


def _(message: str) -> str:
    """Mark an English message for the web catalogue; it is translated where it is shown."""
    return message


@cache
def password_rules() -> dict[str, Any]:
    """The password rules and storage parameters of ``data/passwords.yml`` (read once)."""
    text = files("exquisite").joinpath("data/passwords.yml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


@cache
def common_passwords() -> frozenset[str]:
    """The common passwords of ``data/common_passwords.txt``, lower case (the header is skipped)."""
    text = files("exquisite").joinpath("data/common_passwords.txt").read_text(encoding="utf-8")
    _header, _, body = text.partition("\n\n")
    return frozenset(line.strip() for line in body.splitlines() if line.strip())


@cache
def _hasher() -> PasswordHasher:
    # OWASP Password Storage Cheat Sheet, Argon2id: m=19 MiB, t=2, p=1 (the numbers: data/passwords.yml).
    storage = password_rules()["storage"]
    return PasswordHasher(
        time_cost=int(storage["time_cost"]),
        memory_cost=int(storage["memory_kib"]),
        parallelism=int(storage["parallelism"]),
        type=Type.ID,
    )


def hash_password(password: str) -> str:
    """The Argon2id hash of ``password`` in PHC string form (``$argon2id$v=19$m=19456,t=2,p=1$…``).

    Parameters
    ----------
    password
        The password exactly as typed (ASVS v5.0.0-6.2.8: no truncation, no case change).

    Returns
    -------
    str
        A salted hash to store; it carries its own parameters.
    """
    return _hasher().hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash``; False (never an exception) for a malformed hash.

    Parameters
    ----------
    stored_hash
        A hash made by :func:`hash_password` (or any Argon2 PHC string).
    password
        The password as the user typed it.
    """
    if not isinstance(stored_hash, str) or not isinstance(password, str):
        return False
    try:
        return _hasher().verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError, ValueError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether ``stored_hash`` was made with other parameters than today's (hash again at the next sign-in).

    A malformed hash needs one too (True).
    """
    if not isinstance(stored_hash, str):
        return True
    try:
        return _hasher().check_needs_rehash(stored_hash)
    except (InvalidHashError, ValueError):
        return True


def _guessable_parts(username: str) -> list[str]:
    """The username, its part before '@' and the documented context words, longest first, lower case."""
    parts = {word.casefold() for word in password_rules()["rules"]["context_words"]}
    name = username.strip().casefold()
    if name:
        parts.add(name)
        parts.add(name.split("@", 1)[0])
    return sorted((part for part in parts if part), key=len, reverse=True)


#: What can be wrong with a new password, by code (``%(...)s`` filled from the refusal's values): the sentence
#: after ``password:``, marked for the web catalogue (the staff pages show it translated).
PASSWORD_PROBLEMS = {
    "password_short": _(
        "is shorter than %(shortest)s characters. Use a longer passphrase, for example a few words you will "
        "remember."
    ),
    "password_long": _("is longer than %(longest)s characters. Use a shorter passphrase."),
    "password_username": _("is the same as the username. Choose a password that is not your name."),
    "password_common": _(
        "is one of the most common passwords, which attackers try first. Choose another one."
    ),
    "password_guessable": _(
        "is mostly the username or words about this service; without them it is shorter than %(shortest)s "
        "characters. Add words of your own."
    ),
}


def password_refusal(password: str, username: str = "") -> tuple[str, dict[str, Any]] | None:
    """Why a new password may not be used: a code of :data:`PASSWORD_PROBLEMS` and its values; None if it may.

    The rules of OWASP ASVS v5.0.0-6.2.x as set in ``data/passwords.yml``: at least ``min_chars`` characters
    (6.2.1; the username and the documented context words do not count towards them, 6.2.11), at most
    ``max_chars`` (6.2.9 permits 64 and more), no composition rules (6.2.5), not the username, and not one of
    the common passwords (6.2.4).

    Parameters
    ----------
    password
        The new password as typed.
    username
        The account's name or email address.
    """
    rules = password_rules()["rules"]
    shortest, longest = int(rules["min_chars"]), int(rules["max_chars"])
    if not isinstance(password, str) or len(password) < shortest:
        return "password_short", {"shortest": shortest}
    if len(password) > longest:
        return "password_long", {"longest": longest}
    folded = password.casefold()
    name = username.strip().casefold()
    if name and (folded.strip() == name or folded.strip() == name.split("@", 1)[0]):
        return "password_username", {}
    if folded.strip() in common_passwords():
        return "password_common", {}
    rest = folded
    for part in _guessable_parts(username):
        rest = rest.replace(part, "")
    if len(rest) < shortest:
        return "password_guessable", {"shortest": shortest}
    return None


def password_problem(password: str, username: str = "") -> str | None:
    """What is wrong with a new password, in one sentence for its owner; None when it may be used.

    Parameters
    ----------
    password
        The new password as typed.
    username
        The account's name or email address.

    Returns
    -------
    str or None
        ``"password: <what is wrong>. <what to do>."`` (see :func:`password_refusal`), or None.
    """
    refusal = password_refusal(password, username)
    if refusal is None:
        return None
    code, values = refusal
    return "password: " + PASSWORD_PROBLEMS[code] % values


def new_token(nbytes: int = 32) -> str:
    """A random URL-safe token of ``nbytes`` random bytes (``secrets.token_urlsafe``)."""
    return secrets.token_urlsafe(nbytes)


def token_hash(token: str) -> str:
    """The SHA-256 of ``token`` in hex: what is stored instead of a high-entropy token (ASVS v5.0.0-6.5.2)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def constant_time_equal(left: str | bytes, right: str | bytes) -> bool:
    """Whether two strings or byte strings are equal, in time that does not depend on where they differ."""
    a = left.encode("utf-8") if isinstance(left, str) else bytes(left)
    b = right.encode("utf-8") if isinstance(right, str) else bytes(right)
    return hmac.compare_digest(a, b)


def load_secret(data_dir: Path) -> bytes:
    """The service's 32-byte secret key in ``data_dir/secret.key``: created once, reused after.

    The file is written to a temporary name with mode 0600 and linked into place, so several processes
    starting at once end up with one key. A key file of another size, or one that other users may read or
    write, is refused.

    Parameters
    ----------
    data_dir
        The governance data folder (created when missing).

    Raises
    ------
    InputError
        Naming the key file, when its size or its permissions are wrong.
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRET_FILE
    if not path.exists():
        _create_secret(path)
    info = path.stat()
    if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError(
            str(path),
            f"other users may read or change the service's secret key (mode {stat.filemode(info.st_mode)})",
            f"Make it readable by the service's user only: chmod 600 {path}",
        )
    key = path.read_bytes()
    if len(key) != SECRET_BYTES:
        raise InputError(
            str(path),
            f"the secret key has {len(key)} bytes instead of {SECRET_BYTES}",
            "Restore the right file, or delete it to make a new key (signed-in staff must sign in again).",
        )
    return key


def _create_secret(path: Path) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(SECRET_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process made the key first: that one is kept
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def ip_hash(secret: bytes, ip: str) -> str:
    """A keyed hash of a client's IP address (HMAC-SHA256, first 32 hex characters); the IP is never stored.

    The address is normalised first (``::ffff:192.0.2.1`` is ``192.0.2.1``; IPv6 in its short form); text that
    is not an address (a test client's name) is hashed as it is.

    Parameters
    ----------
    secret
        The service's key (:func:`load_secret`): without it the hashes of the 2^32 IPv4 addresses cannot be
        tabulated.
    ip
        The client's address.
    """
    text = ip.strip()
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        text = address.compressed
    digest = hmac.new(secret, b"ip\0" + text.encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:IP_HASH_CHARS]
