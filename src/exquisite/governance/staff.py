"""Staff of the governance service: accounts, sign-in, sessions, what each role may do, and the audit log.

Roles and permissions are ``data/staff_roles.yml`` (FixMyStreet's permission names; OWASP ASVS
v5.0.0-8.1.1, 8.2.1–8.2.3). Passwords follow :mod:`exquisite.governance.security` (Argon2id, ASVS
v5.0.0-6.2.x); a session is a random cookie of which only the SHA-256 is stored, with an idle and an absolute
lifetime (``settings.sessions``, ASVS v5.0.0-7.3.1/7.3.2), made anew at every sign-in (7.2.4) and deleted at
sign-out (7.4.1). Every sign-in, sign-out, change and refused attempt is an :class:`AuditEntry` with the IP's
keyed hash, never a password (ASVS v5.0.0-16.3.1–16.3.3, 16.2.5)::

    with store.session() as session:
        user = create_staff(session, "anna", "Anna Virtanen", "a long passphrase", "department_staff",
                            department="roads")
    with store.session() as session:
        signed = sign_in(session, "anna", "a long passphrase", ip_hash=h, settings=settings, limits=limits)
    # signed.token goes into the exq_staff cookie; on each request:
    with store.session() as session:
        found = session_of(session, token, settings.sessions)   # None when expired or signed out
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib.resources import files
from typing import Any

import yaml
from sqlalchemy import ColumnElement, and_, false, select, true
from sqlalchemy.orm import Session

from exquisite.errors import InputError
from exquisite.governance.models import AuditEntry, Report, StaffSession, StaffUser
from exquisite.governance.ratelimit import Limits
from exquisite.governance.reports import now_utc, plain_text_problem
from exquisite.governance.security import (
    PASSWORD_PROBLEMS,
    hash_password,
    new_token,
    password_refusal,
    token_hash,
    verify_password,
)
from exquisite.governance.services import load_services
from exquisite.governance.settings import SessionRules, Settings

#: The cookie that carries a staff session's token.
SESSION_COOKIE = "exq_staff"
#: Scopes a role's records may have (see data/staff_roles.yml).
SCOPES = ("all", "department", "community")
_USERNAME = re.compile(r"[A-Za-z0-9._@-]+")
#: A city's id as the command line may give it (a region folder of the runs: ``runs/<id>/``).
_JURISDICTION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: A hash that no password matches, verified for unknown usernames so that they take as long as known ones.
_DUMMY_HASH: list[str] = []


@dataclass(frozen=True)
class Role:
    """One role: its labels, the records it covers (``all``, ``department``, ``community``), permissions."""

    name: str
    label: Mapping[str, str]
    scope: str
    permissions: frozenset[str]


@dataclass(frozen=True)
class StaffRoles:
    """The roles, the permissions' descriptions, and the account and page limits of ``staff_roles.yml``."""

    roles: Mapping[str, Role]
    permissions: Mapping[str, str]
    accounts: Mapping[str, int]
    pages: Mapping[str, int]

    def __getitem__(self, name: str) -> Role:
        return self.roles[name]


@cache
def load_roles() -> StaffRoles:
    """The built-in roles (``data/staff_roles.yml``), checked: every permission named is described."""
    data = yaml.safe_load(files("exquisite").joinpath("data/staff_roles.yml").read_text(encoding="utf-8"))
    permissions = {str(k): str(v["en"]) for k, v in data["permissions"].items()}
    roles: dict[str, Role] = {}
    for name, raw in data["roles"].items():
        granted = frozenset(str(p) for p in raw["permissions"])
        unknown = sorted(granted - set(permissions))
        if unknown:
            raise ValueError(f"staff_roles.yml: role {name} names unknown permissions: {', '.join(unknown)}")
        if raw["scope"] not in SCOPES:
            raise ValueError(f"staff_roles.yml: role {name} has scope {raw['scope']!r}; one of {SCOPES}")
        roles[str(name)] = Role(str(name), dict(raw["label"]), str(raw["scope"]), granted)
    accounts = {str(k): int(v) for k, v in data["accounts"].items()}
    pages = {str(k): int(v) for k, v in data["pages"].items()}
    return StaffRoles(roles, permissions, accounts, pages)


def _(message: str) -> str:
    """Mark an English message for the web catalogue; the staff pages translate it where they show it."""
    return message


#: What can be wrong with a staff account or a staff form, by code: what is wrong and what to do, after the
#: field's name (``%(...)s`` filled from the error's values). The staff pages show it translated.
PROBLEMS = {
    "not_a_role": _("%(value)s is not a role. Use one of: %(choices)s."),
    "department_required": _("is required for this role. Give one of: %(choices)s."),
    "not_a_department": _("%(value)s is not a department. Use one of: %(choices)s."),
    "community_required": _("is required for this role. Give the community's name as the reports show it."),
    "not_a_community": _("%(value)s is not a community of %(city)s. Use one of: %(choices)s."),
    "city_required": _("is required for this role (a community is in one city). Use one of: %(choices)s."),
    "city_id_required": _(
        "is required for this role (a community is in one city). Give the city's id: its folder in the runs."
    ),
    "not_served": _("%(value)s is not a city served here. Use one of: %(choices)s."),
    "not_a_city_id": _(
        "must be a city's id of at most %(longest)s characters: letters, digits, '.', '_' or '-'. Give the "
        "city's id: its folder in the runs (runs/<id>/)."
    ),
    "not_a_username": _(
        "must be %(shortest)s to %(longest)s characters: letters, digits, '.', '_', '-' or '@'. Choose "
        "another username."
    ),
    "username_taken": _("%(value)s is taken. Choose another username."),
    "own_account": _("you cannot change or deactivate your own account. Ask another administrator."),
    # free text (as reports.plain_text_problem finds it)
    "too_long": _("%(length)s characters; at most %(limit)s."),
    "markup": _("write plain text, without HTML tags or entities."),
    "control_characters": _("contains control characters; write plain text."),
    # the report forms of the staff pages
    "reason_required": _("is required. Say why the report is changed (residents may ask)."),
    "visibility_reason_required": _("is required. Say why the report is hidden or shown again."),
    "not_hide_or_unhide": _("must be hide or unhide."),
    "note_empty": _("is empty. Write the note."),
    "not_a_choosable_state": _("%(value)s is not a state you can choose here. Pick one of the list."),
    "not_a_report_number": _("%(value)s is not a report number. Give the original report's number."),
    "original_required": _("is required. Give the original report's number."),
    "no_such_original": _("there is no report %(value)s you can see. Give the original report's number."),
    "transition": _("a report that is %(state)s cannot become %(target)s."),
    "not_a_duplicate": _("a duplicate must name the other report it repeats."),
    "not_a_colleague": _(
        "is not an active member of this report's department in its city. Pick one of the list."
    ),
    "not_a_department_here": _("%(value)s is not a department. Pick one of the list."),
    "nothing_changed": _("nothing was changed. Change the text or a photo's box, then save."),
    **PASSWORD_PROBLEMS,
}


class StaffError(InputError):
    """A staff account, sign-in or action that cannot be done.

    Parameters
    ----------
    field
        The form field (or command-line option) at fault.
    code
        What is wrong: a key of :data:`PROBLEMS`.
    **values
        The values its message names (a value the user typed is shown quoted and cut short).
    """

    def __init__(self, field: str, code: str, **values: Any) -> None:
        self.field = field
        self.code = code
        self.values = values
        super().__init__(field, PROBLEMS[code] % values)

    @property
    def message(self) -> str:
        """The whole message: the field's name, what is wrong and what to do."""
        return f"{self.field}: {self.problem}"


def _typed(value: str, limit: int = 60) -> str:
    """A value the user typed, as a message quotes it."""
    return repr(value[:limit])


def check_plain_text(field: str, value: str, limit: int) -> None:
    """A :class:`StaffError` when a free text is too long or not plain text (as a report's description)."""
    if problem := plain_text_problem(field, value, limit):
        raise StaffError(field, problem.code, length=len(value), limit=limit)


@dataclass(frozen=True)
class Actor:
    """The signed-in member of staff, as a request sees them (no password hash)."""

    id: int
    username: str
    display_name: str
    role: str
    department: str | None
    community: str | None
    #: The session's id (the stored hash of its cookie): CSRF tokens are bound to it.
    session_id: str
    #: The city the role covers (a jurisdiction id); None: every city.
    jurisdiction: str | None = None

    @property
    def permissions(self) -> frozenset[str]:
        """What the role may do."""
        return load_roles()[self.role].permissions

    def can(self, permission: str) -> bool:
        """Whether the role has ``permission`` (an unknown permission name is a programming error)."""
        if permission not in load_roles().permissions:
            raise KeyError(f"unknown permission {permission!r}; see data/staff_roles.yml")
        return permission in self.permissions

    @property
    def scope(self) -> str:
        """``all``, ``department`` or ``community``."""
        return load_roles()[self.role].scope

    def covers(self, report: Report) -> bool:
        """Whether ``report`` lies in the role's scope (ASVS v5.0.0-8.2.2).

        The scope is the role's department or community, within the member's city when one is set. A
        community is a name within one city: a community role without a city covers nothing.
        """
        if self.jurisdiction is not None and report.jurisdiction != self.jurisdiction:
            return False
        if self.scope == "all":
            return True
        if self.scope == "department":
            return self.department is not None and report.department == self.department
        return (
            self.community is not None
            and self.jurisdiction is not None
            and report.community == self.community
        )

    def scope_clause(self) -> ColumnElement[bool]:
        """The SQL condition that keeps a query of reports within the role's scope (as :meth:`covers`)."""
        if self.scope == "all":
            within = true()
        elif self.scope == "department":
            within = Report.department == self.department if self.department else false()
        elif self.community and self.jurisdiction:
            within = Report.community == self.community
        else:
            return false()
        if self.jurisdiction is None:
            return within
        return and_(Report.jurisdiction == self.jurisdiction, within)


def actor_of(user: StaffUser, session_id: str) -> Actor:
    """The :class:`Actor` of a stored user in a session."""
    return Actor(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        department=user.department,
        community=user.community,
        session_id=session_id,
        jurisdiction=user.jurisdiction,
    )


# ------------------------------------------------------------------------------------------------ audit
def audit(
    session: Session,
    action: str,
    *,
    staff_id: int | None,
    outcome: str = "ok",
    object_type: str | None = None,
    object_id: str | int | None = None,
    detail: Mapping[str, Any] | None = None,
    ip_hash: str | None = None,
    now: datetime | None = None,
) -> AuditEntry:
    """Record one staff action or refused attempt in ``session``'s transaction.

    Parameters
    ----------
    action
        ``sign_in``, ``sign_out``, ``report_state``, ``user_create`` … (what was done or tried).
    staff_id
        Who (None when unknown: a failed sign-in with an unknown name, the command line).
    outcome
        ``ok`` or ``denied``.
    object_type, object_id
        What it concerned (``report``, ``staff_user``).
    detail
        What changed or why it was refused; never a password or a reporter's contact.
    ip_hash
        The keyed hash of the client's IP address.
    """
    entry = AuditEntry(
        at=now or now_utc(),
        staff_id=staff_id,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        outcome=outcome,
        detail=dict(detail or {}),
        ip_hash=ip_hash,
    )
    session.add(entry)
    return entry


# --------------------------------------------------------------------------------------------- accounts
def _check_account(
    session: Session,
    *,
    role: str,
    department: str | None,
    community: str | None,
    jurisdiction: str | None,
    departments: Iterable[str] | None,
    jurisdictions: Mapping[str, Collection[str]] | None,
) -> tuple[str | None, str | None, str | None]:
    """The department, community and city a role keeps, or a :class:`StaffError` naming the field at fault.

    A department role keeps its department and, optionally, one city (None: every city); a community role
    keeps its community and its city, always; a role that covers everything keeps none of them.
    """
    roles = load_roles()
    if role not in roles.roles:
        raise StaffError("role", "not_a_role", value=repr(role), choices=", ".join(roles.roles))
    scope = roles[role].scope
    department = (department or "").strip() or None
    community = (community or "").strip() or None
    known = sorted(departments if departments is not None else load_services().departments)
    if scope == "department":
        if department is None:
            raise StaffError("department", "department_required", choices=", ".join(known))
        if department not in known:
            raise StaffError(
                "department", "not_a_department", value=_typed(department), choices=", ".join(known)
            )
        return department, None, _check_jurisdiction(jurisdiction, jurisdictions, required=False)
    if scope == "community":
        if community is None:
            raise StaffError("community", "community_required")
        check_plain_text("community", community, 200)
        city = _check_jurisdiction(jurisdiction, jurisdictions, required=True)
        names = sorted((jurisdictions or {}).get(city or "", ()))
        if names and community not in names:
            raise StaffError(
                "community", "not_a_community", value=_typed(community), city=city, choices=", ".join(names)
            )
        return None, community, city
    return None, None, None


def _check_jurisdiction(
    jurisdiction: str | None, jurisdictions: Mapping[str, Collection[str]] | None, *, required: bool
) -> str | None:
    """The city's id (None: every city, where the role allows it), or a :class:`StaffError`.

    With the served cities known (the staff pages), the id must be one of them; without (the command line,
    which does not read the runs), it must look like a runs folder's name.
    """
    city = (jurisdiction or "").strip() or None
    served = sorted(jurisdictions) if jurisdictions is not None else None
    if city is None:
        if required and served:
            raise StaffError("jurisdiction", "city_required", choices=", ".join(served))
        if required:
            raise StaffError("jurisdiction", "city_id_required")
        return None
    if served is not None:
        if city not in served:
            raise StaffError("jurisdiction", "not_served", value=_typed(city), choices=", ".join(served))
        return city
    longest = StaffUser.__table__.c.jurisdiction.type.length
    if len(city) > longest or not _JURISDICTION.fullmatch(city):
        raise StaffError("jurisdiction", "not_a_city_id", longest=longest)
    return city


def create_staff(
    session: Session,
    username: str,
    display_name: str,
    password: str,
    role: str,
    department: str | None = None,
    community: str | None = None,
    *,
    jurisdiction: str | None = None,
    departments: Iterable[str] | None = None,
    jurisdictions: Mapping[str, Collection[str]] | None = None,
    now: datetime | None = None,
) -> StaffUser:
    """Create a staff account in ``session``'s transaction (the caller audits who created it).

    Parameters
    ----------
    username
        Letters, digits and ``. _ - @`` (unique, case-insensitive).
    display_name
        The name other staff see.
    password
        Checked by :func:`~exquisite.governance.security.password_refusal`; only its Argon2id hash is kept.
    role
        A role of ``data/staff_roles.yml``.
    department
        Required for a department role: one of the services' departments.
    community
        Required for a community role: a community's name as reports carry it.
    jurisdiction
        The city the role covers (a jurisdiction id, as reports carry it): required for a community role,
        optional for a department role (None: every city), not kept for a role that covers everything.
    departments
        The departments known (default: the built-in services').
    jurisdictions
        The cities served, id → their communities' names (empty when not known), when the caller knows them
        (the staff pages): the city must be one of them, and a community role's community one of its city's.
        None (the command line): any id that looks like a runs folder's name.

    Raises
    ------
    StaffError
        Naming the field at fault; nothing is stored.
    """
    limits = load_roles().accounts
    username = (username or "").strip()
    display_name = (display_name or "").strip()
    shortest, longest = limits["username_min_chars"], limits["username_max_chars"]
    if not shortest <= len(username) <= longest or not _USERNAME.fullmatch(username):
        raise StaffError("username", "not_a_username", shortest=shortest, longest=longest)
    if session.scalars(select(StaffUser).where(StaffUser.username == username.casefold())).first():
        raise StaffError("username", "username_taken", value=repr(username))
    if not display_name:
        display_name = username
    check_plain_text("display_name", display_name, limits["display_name_max_chars"])
    department, community, jurisdiction = _check_account(
        session,
        role=role,
        department=department,
        community=community,
        jurisdiction=jurisdiction,
        departments=departments,
        jurisdictions=jurisdictions,
    )
    if refusal := password_refusal(password, username):
        raise StaffError("password", refusal[0], **refusal[1])
    user = StaffUser(
        username=username.casefold(),
        display_name=display_name,
        password_hash=hash_password(password),
        role=role,
        department=department,
        community=community,
        jurisdiction=jurisdiction,
        active=True,
        failed_logins=0,
        created_at=now or now_utc(),
    )
    session.add(user)
    session.flush()
    return user


def change_staff(
    session: Session,
    user: StaffUser,
    *,
    role: str | None = None,
    department: str | None = None,
    community: str | None = None,
    jurisdiction: str | None = None,
    active: bool | None = None,
    departments: Iterable[str] | None = None,
    jurisdictions: Mapping[str, Collection[str]] | None = None,
) -> dict[str, list[Any]]:
    """Change an account's role (with its department or community, and city) or deactivate it; what changed.

    The role, department, community and city are checked together as :func:`create_staff` checks them (a
    session reads them anew on each request). The sessions of a deactivated account, or of one whose role
    changed, are deleted at once.

    Returns
    -------
    dict
        ``{field: [old, new]}`` of each changed field (for the audit log).

    Raises
    ------
    StaffError
        Naming the field at fault; nothing is changed.
    """
    changes: dict[str, list[Any]] = {}
    if role is not None:
        new_department, new_community, new_jurisdiction = _check_account(
            session,
            role=role,
            department=department,
            community=community,
            jurisdiction=jurisdiction,
            departments=departments,
            jurisdictions=jurisdictions,
        )
        for name, value in (
            ("role", role),
            ("department", new_department),
            ("community", new_community),
            ("jurisdiction", new_jurisdiction),
        ):
            if getattr(user, name) != value:
                changes[name] = [getattr(user, name), value]
                setattr(user, name, value)
    if active is not None and user.active != active:
        changes["active"] = [user.active, active]
        user.active = active
    if user.active is False or "role" in changes:
        for old in session.scalars(select(StaffSession).where(StaffSession.user_id == user.id)):
            session.delete(old)
    return changes


def add_staff_account(
    settings: Settings,
    username: str,
    password: str,
    *,
    role: str,
    display_name: str | None = None,
    department: str | None = None,
    community: str | None = None,
    jurisdiction: str | None = None,
) -> str:
    """Create a staff account in the store of ``settings`` (``exquisite staff add``), audited as from the CLI.

    Parameters
    ----------
    settings
        The governance settings (their store is opened and migrated).
    username, password, role, display_name, department, community, jurisdiction
        As :func:`create_staff` takes them (the password as prompted, never from the command line); the
        city's id is checked by its form only (the command line does not read the runs served).

    Returns
    -------
    str
        One line saying what was created.

    Raises
    ------
    StaffError
        Naming the option at fault; nothing is stored.
    """
    from exquisite.governance.db import Store

    store = Store(settings.database())
    try:
        with store.session() as session:
            user = create_staff(
                session,
                username,
                display_name or username,
                password,
                role,
                department,
                community,
                jurisdiction=jurisdiction,
            )
            audit(
                session,
                "user_create",
                staff_id=None,
                object_type="staff_user",
                object_id=user.id,
                detail={
                    "by": "command line",
                    "role": role,
                    "department": user.department,
                    "community": user.community,
                    "jurisdiction": user.jurisdiction,
                },
            )
            where = ", ".join(w for w in (user.department or user.community, user.jurisdiction) if w)
            return f"staff account {user.username} ({role}{f', {where}' if where else ''}) created"
    finally:
        store.dispose()


# -------------------------------------------------------------------------------------------- sign-in
@dataclass(frozen=True)
class SignedIn:
    """A successful sign-in: the new session's cookie value (only its hash is stored) and who signed in."""

    token: str
    actor: Actor


class SignInRefusedError(Exception):
    """A refused sign-in: ``reason`` is ``wrong``, ``locked``, ``inactive`` or ``rate_limited``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _dummy_hash() -> str:
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(hash_password(new_token(24)))
    return _DUMMY_HASH[0]


def sign_in(
    session: Session,
    username: str,
    password: str,
    *,
    ip_hash: str | None,
    settings: Settings,
    limits: Limits,
    old_token: str | None = None,
    now: datetime | None = None,
) -> SignedIn:
    """Check a sign-in and open a new session; every outcome is audited in ``session``'s transaction.

    The per-IP budget (``rate_limits.logins_per_ip_per_15_minutes``) is counted first; a wrong password counts
    against the account, which is locked for ``lockout_minutes`` after ``failed_logins_before_lockout`` in a
    row (ASVS v5.0.0-6.3.1); while locked even the right password is refused. An unknown username takes as
    long as a known one (a hash is verified all the same). The session the browser had before, if any, is
    deleted: the new one has a new token (ASVS v5.0.0-7.2.4).

    Raises
    ------
    SignInRefusedError
        With the reason (the page shows one message for ``wrong``, ``locked`` and ``inactive``). The caller
        commits the transaction all the same, so the counts and the audit entry are kept.
    """
    now = now or now_utc()
    rules = settings.rate_limits

    def refused(reason: str, user: StaffUser | None, detail: dict[str, Any]) -> SignInRefusedError:
        audit(
            session,
            "sign_in",
            staff_id=user.id if user else None,
            outcome="denied",
            detail=detail,
            ip_hash=ip_hash,
            now=now,
        )
        return SignInRefusedError(reason)

    if ip_hash is not None and limits.allow_login(session, ip_hash, now=now):
        raise refused("rate_limited", None, {"reason": "rate_limited"})
    name = (username or "").strip().casefold()
    user = session.scalars(select(StaffUser).where(StaffUser.username == name)).first() if name else None
    if user is None:
        verify_password(_dummy_hash(), password or "")
        raise refused("wrong", None, {"reason": "unknown_user"})
    if user.locked_until is not None and user.locked_until > now:
        verify_password(_dummy_hash(), password or "")
        raise refused("locked", user, {"reason": "locked"})
    if not verify_password(user.password_hash, password or ""):
        user.failed_logins = (user.failed_logins or 0) + 1
        detail: dict[str, Any] = {"reason": "wrong_password", "failed_in_a_row": user.failed_logins}
        if user.failed_logins >= rules.failed_logins_before_lockout:
            user.locked_until = now + timedelta(minutes=rules.lockout_minutes)
            user.failed_logins = 0
            detail["locked_until"] = user.locked_until.isoformat()
        raise refused("wrong", user, detail)
    if not user.active or user.role not in load_roles().roles:
        raise refused("inactive", user, {"reason": "inactive"})
    user.failed_logins = 0
    user.locked_until = None
    if old_token:
        previous = session.get(StaffSession, token_hash(old_token))
        if previous is not None:
            session.delete(previous)
    token = new_token(32)
    record = StaffSession(
        token_hash=token_hash(token),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=settings.sessions.absolute_hours),
    )
    session.add(record)
    audit(session, "sign_in", staff_id=user.id, ip_hash=ip_hash, now=now)
    session.flush()
    return SignedIn(token, actor_of(user, record.token_hash))


def session_of(
    session: Session, token: str | None, rules: SessionRules, *, now: datetime | None = None
) -> Actor | None:
    """Who is signed in with the cookie ``token``; None when there is no such session or it has expired.

    An expired session (idle longer than ``idle_minutes``, or older than ``absolute_hours``) is deleted; a
    live one is marked as seen now. A deactivated account has no session.
    """
    if not token:
        return None
    now = now or now_utc()
    record = session.get(StaffSession, token_hash(token))
    if record is None:
        return None
    idle = record.last_seen_at + timedelta(minutes=rules.idle_minutes) <= now
    if idle or record.expires_at <= now:
        session.delete(record)
        return None
    user = session.get(StaffUser, record.user_id)
    if user is None or not user.active or user.role not in load_roles().roles:
        session.delete(record)
        return None
    record.last_seen_at = now
    return actor_of(user, record.token_hash)


def sign_out(
    session: Session, token: str | None, *, ip_hash: str | None, now: datetime | None = None
) -> bool:
    """Delete the session of ``token`` (audited); whether there was one."""
    if not token:
        return False
    record = session.get(StaffSession, token_hash(token))
    if record is None:
        return False
    audit(session, "sign_out", staff_id=record.user_id, ip_hash=ip_hash, now=now)
    session.delete(record)
    return True
