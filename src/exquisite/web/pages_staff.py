"""The staff pages of the governance service, and the public pages of reports per community.

Staff sign in, triage, assign, update and moderate reports, read the audit log and manage accounts; everyone
sees each community's reports next to its life-circle coverage.

Who may do what is decided in one place, the :class:`Staff` dependency every staff route takes: the session
(cookie ``exq_staff``), the form's CSRF token bound to that session, the role's permission for the function
(refused: 403, ASVS v5.0.0-8.2.1) and, for a report's routes, the report's department or community and its
city (outside the role's scope: 404, exactly as for a report that does not exist, ASVS v5.0.0-8.2.2).
Every refusal is an audit entry (ASVS v5.0.0-16.3.2). The reporter's contact reaches the page only with
``report_view_contact`` (ASVS v5.0.0-8.2.3). Every page works without JavaScript.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from exquisite.governance import notices
from exquisite.governance.models import AuditEntry, Photo, Report, ReportEdit, ReportEvent, StaffUser
from exquisite.governance.reports import is_overdue, move, now_utc
from exquisite.governance.service import Governance
from exquisite.governance.staff import (
    PROBLEMS,
    SESSION_COOKIE,
    Actor,
    SignInRefusedError,
    StaffError,
    audit,
    change_staff,
    check_plain_text,
    create_staff,
    load_roles,
    session_of,
    sign_in,
    sign_out,
)
from exquisite.web.csrf import FIELD, check_csrf, csrf_token, set_csrf_cookie
from exquisite.web.ui import safe_next, ui_for

#: Columns of the triage queue a reader may sort by (query ``sort``), and the column each sorts on.
SORTS = {
    "id": Report.id,
    "age": Report.created_at,
    "service": Report.service_code,
    "state": Report.state,
    "community": Report.community,
    "city": Report.jurisdiction,
    "department": Report.department,
    "due": Report.expected_at,
}


#: The largest id a report can have (a 32-bit signed integer column): larger numbers name no report.
MAX_ID = 2**31 - 1


class SignInRequiredError(Exception):
    """No live staff session: the reader is sent to the sign-in page."""


class DeniedError(Exception):
    """The role may not do this (403 page); ``message`` says what to do."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class StaffRoute(APIRoute):
    """A route that answers a missing session with the sign-in page and a refusal with the 403 page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, wrapped."""
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequiredError:
                here = request.url.path if request.method == "GET" else "/staff"
                return RedirectResponse(f"/staff/login?{urlencode({'next': here})}", status_code=303)
            except DeniedError as refusal:
                title = ui_for(request).gettext("Not allowed")
                return _page(
                    request,
                    "staff_denied.html",
                    {"title": title, "message": refusal.message},
                    403,
                    actor=None,
                )

        return guarded


router = APIRouter(route_class=StaffRoute)


# ------------------------------------------------------------------------------------------ helpers
def _governance(request: Request) -> Governance:
    return request.app.state.governance  # type: ignore[no-any-return]


def _served(gov: Governance) -> dict[str, list[str]]:
    """The cities served, id → their communities' names: what a staff account's city and community may be."""
    return {city.id: city.communities() for city in gov.jurisdictions().values()}


def _client_hash(request: Request) -> str | None:
    return _governance(request).ip_hash(request.client.host if request.client else None)


def _page(
    request: Request,
    template: str,
    context: dict[str, Any],
    status_code: int = 200,
    *,
    actor: Actor | None,
) -> HTMLResponse:
    """A staff page: rendered with the signed-in member, a CSRF token for its forms, never cached."""
    from exquisite.web.app import render

    gov = _governance(request)
    if actor is None:
        actor = getattr(request.state, "staff", None)
    token = csrf_token(request, None, gov.secret, session_id=actor.session_id if actor else None)
    roles = load_roles()
    response = render(
        request,
        template,
        {
            "title": context.pop("title", ""),
            "staff": actor,
            "csrf_field": FIELD,
            "csrf": token,
            "roles": roles,
            "role_label": (
                lambda name: ui_for(request).pick(roles[name].label) if name in roles.roles else name
            ),
            **context,
        },
        status_code=status_code,
    )
    set_csrf_cookie(request, response)
    response.headers["Cache-Control"] = "no-store"
    return response


def _deny(request: Request, actor: Actor | None, action: str, reason: str, **detail: Any) -> None:
    """Record a refused attempt in its own transaction (the request's own, if any, is not committed)."""
    gov = _governance(request)
    with gov.store.session() as session:
        audit(
            session,
            action,
            staff_id=actor.id if actor else None,
            outcome="denied",
            detail={"reason": reason, "path": request.url.path, **detail},
            ip_hash=_client_hash(request),
        )


def _not_found() -> HTTPException:
    """The one answer for a report that does not exist and for one outside the role's scope."""
    return HTTPException(status_code=404)


class Staff:
    """The dependency every staff route takes: session, CSRF (on forms), permission, and report scope.

    Parameters
    ----------
    permission
        The permission of ``data/staff_roles.yml`` the function needs (None: any signed-in member).
    form
        Whether the route takes a form that changes something (its CSRF token is checked first).
    """

    def __init__(self, permission: str | None, *, form: bool = False) -> None:
        if permission is not None and permission not in load_roles().permissions:
            raise KeyError(f"unknown permission {permission!r}")
        self.permission = permission
        self.form = form

    async def __call__(self, request: Request) -> Actor:
        """The signed-in member, once every check has passed."""
        gov = _governance(request)
        with gov.store.session() as session:
            actor = session_of(session, request.cookies.get(SESSION_COOKIE), gov.settings.sessions)
        if actor is None:
            raise SignInRequiredError()
        request.state.staff = actor
        ui = ui_for(request)
        if self.form:
            fields = await request.form()
            try:
                check_csrf(request, str(fields.get(FIELD) or ""), gov.secret, session_id=actor.session_id)
            except HTTPException as refused:
                _deny(request, actor, "csrf", "csrf_failed")
                raise DeniedError(ui.gettext(str(refused.detail))) from None
        if self.permission is not None and not actor.can(self.permission):
            _deny(request, actor, "access", "permission", permission=self.permission)
            raise DeniedError(ui.gettext("Your role may not do this. Ask an administrator if you need it."))
        report_id = request.path_params.get("report_id")
        if report_id is not None:
            if not str(report_id).isdigit() or int(report_id) > MAX_ID:
                raise _not_found()
            with gov.store.session() as session:
                report = session.get(Report, int(report_id))
                covered = report is not None and actor.covers(report)
            if not covered:
                if report is not None:
                    _deny(request, actor, "access", "out_of_scope", object_id=int(report_id))
                raise _not_found()
        return actor


def _scoped(session: Session, actor: Actor, report_id: int) -> Report:
    """The report in this transaction, checked again against the role's scope (404 otherwise)."""
    report = session.get(Report, report_id)
    if report is None or not actor.covers(report):
        raise _not_found()
    return report


def _text(value: str | None, name: str, limit: int | None = None) -> str:
    """A staff-written text, stripped, checked as a report's description is (plain text, not too long).

    The limit is ``accounts.note_max_chars`` of ``data/staff_roles.yml`` unless another is given.
    """
    text = (value or "").strip()
    check_plain_text(name, text, limit or load_roles().accounts["note_max_chars"])
    return text


def _field_name(field: str, gettext: Callable[[str], str]) -> str:
    """A staff form's field as its label names it, in the reader's language (unknown: as it is)."""
    _ = gettext
    labels = {
        "role": _("Role"),
        "department": _("Department"),
        "community": _("Community"),
        "jurisdiction": _("City"),
        "username": _("Username"),
        "display_name": _("Name"),
        "password": _("Password"),
        "note": _("Note"),
        "reason": _("Reason"),
        "description": _("Description"),
        "duplicate_of": _("Original report's number"),
        "state": _("New state"),
        "staff_id": _("Member of staff of this department"),
    }
    return labels.get(field, field)


def staff_error_text(ui: Any, error: StaffError, states: Any) -> str:
    """What is wrong with a staff form and what to do, in the reader's language, naming the field.

    Parameters
    ----------
    ui
        The reader's :class:`~exquisite.web.ui.UI`.
    error
        The refusal (its ``code`` is a key of :data:`~exquisite.governance.staff.PROBLEMS`).
    states
        The state model (a refused move names the states by their labels).
    """
    values = dict(error.values)
    if error.code == "transition":
        values = {k: ui.pick(states[v].label, v) if v in states.states else v for k, v in values.items()}
    problem = ui.gettext(PROBLEMS[error.code]) % values
    return ui.gettext("%(field)s: %(problem)s") % {
        "field": _field_name(error.field, ui.gettext),
        "problem": problem,
    }


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "–"


def _age(delta: timedelta, gettext: Callable[[str], str]) -> str:
    hours = max(0, int(delta.total_seconds() // 3600))
    if hours < 48:
        return gettext("%(n)s h") % {"n": hours}
    return gettext("%(n)s d") % {"n": hours // 24}


def event_kind_label(kind: str, gettext: Callable[[str], str]) -> str:
    """What a step of a report's history was (``ReportEvent.kind``), in the reader's language.

    Parameters
    ----------
    kind
        The kind the code writes: ``created``, ``confirmed``, ``state``, ``note``, ``assigned`` or
        ``department``.
    gettext
        The reader's ``gettext``.

    Returns
    -------
    str
        The label; a kind not known here is shown as it is stored.
    """
    _ = gettext
    labels = {
        "created": _("Report received"),
        "confirmed": _("Confirmed by the reporter"),
        "state": _("State changed"),
        "note": _("Note added"),
        "assigned": _("Assignment changed"),
        "department": _("Sent to another department"),
    }
    return labels.get(kind, kind)


def _back(report_id: int, done: str) -> RedirectResponse:
    return RedirectResponse(f"/staff/reports/{report_id}?done={done}", status_code=303)


#: The dependencies of the staff routes, one per permission (and form or page).
SignedInForm = Annotated[Actor, Depends(Staff(None, form=True))]
ReportView = Annotated[Actor, Depends(Staff("report_view"))]
ReportInspectForm = Annotated[Actor, Depends(Staff("report_inspect", form=True))]
ReportMarkDuplicateForm = Annotated[Actor, Depends(Staff("report_mark_duplicate", form=True))]
AssignReportToUserForm = Annotated[Actor, Depends(Staff("assign_report_to_user", form=True))]
ReportAssignDepartmentForm = Annotated[Actor, Depends(Staff("report_assign_department", form=True))]
ModerateForm = Annotated[Actor, Depends(Staff("moderate", form=True))]
ReportHideForm = Annotated[Actor, Depends(Staff("report_hide", form=True))]
AuditView = Annotated[Actor, Depends(Staff("audit_view"))]
UserEdit = Annotated[Actor, Depends(Staff("user_edit"))]
UserEditForm = Annotated[Actor, Depends(Staff("user_edit", form=True))]
UserManagePermissionsForm = Annotated[Actor, Depends(Staff("user_manage_permissions", form=True))]


# ------------------------------------------------------------------------------------------ sign in / out
@router.get("/staff/login", include_in_schema=False)
def login_form(request: Request, next_page: str = Query("/staff", alias="next")) -> Response:
    """The sign-in form (a signed-in member goes straight on)."""
    gov = _governance(request)
    with gov.store.session() as session:
        actor = session_of(session, request.cookies.get(SESSION_COOKIE), gov.settings.sessions)
    target = _staff_next(next_page)
    if actor is not None:
        return RedirectResponse(target, status_code=303)
    return _login_page(request, target)


def _staff_next(target: str | None) -> str:
    path = safe_next(target)
    return path if path == "/staff" or path.startswith("/staff/") else "/staff"


def _login_page(
    request: Request, target: str, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    ui = ui_for(request)
    return _page(
        request,
        "staff_login.html",
        {"title": ui.gettext("Staff sign-in"), "next_page": target, "error": error, "username": ""},
        status_code,
        actor=None,
    )


@router.post("/staff/login", include_in_schema=False)
def login(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    next_page: str = Form("/staff", alias="next"),
    token: str = Form("", alias=FIELD),
) -> Response:
    """Check the username and password; open a new session (the old cookie's session is ended)."""
    gov = _governance(request)
    ui = ui_for(request)
    target = _staff_next(next_page)
    try:
        check_csrf(request, token, gov.secret)
    except HTTPException as refused:
        _deny(request, None, "csrf", "csrf_failed")
        return _login_page(request, target, ui.gettext(str(refused.detail)), 403)
    rules = gov.settings.rate_limits
    refused_reason = None
    with gov.store.session() as session:
        try:
            signed = sign_in(
                session,
                username,
                password,
                ip_hash=_client_hash(request),
                settings=gov.settings,
                limits=gov.limits,
                old_token=request.cookies.get(SESSION_COOKIE),
            )
        except SignInRefusedError as refused:
            refused_reason = refused.reason
    if refused_reason == "rate_limited":
        message = ui.gettext("Too many sign-in attempts from your network. Wait 15 minutes, then try again.")
        return _login_page(request, target, message, 429)
    if refused_reason is not None:
        message = ui.gettext(
            "The username or password is not right, or the account is locked. After %(count)s wrong "
            "passwords in a row an account is locked for %(minutes)s minutes."
        ) % {"count": rules.failed_logins_before_lockout, "minutes": rules.lockout_minutes}
        return _login_page(request, target, message, 401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        signed.token,
        path="/staff",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/staff/logout", include_in_schema=False)
def logout(request: Request, actor: SignedInForm) -> Response:
    """End the session: its row is deleted and the cookie cleared."""
    gov = _governance(request)
    with gov.store.session() as session:
        sign_out(session, request.cookies.get(SESSION_COOKIE), ip_hash=_client_hash(request))
    response = RedirectResponse("/staff/login?signed_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/staff", httponly=True, samesite="strict")
    return response


# ------------------------------------------------------------------------------------------ triage queue
@dataclass(frozen=True)
class QueueQuery:
    """The queue's filters and order as the query string gives them."""

    state: str = "active"
    service: str = ""
    community: str = ""
    department: str = ""
    overdue: bool = False
    sort: str = ""
    order: str = "asc"
    page: int = 1

    def link(self, **changes: Any) -> str:
        """The queue's address with some parameters changed."""
        values = {**self.__dict__, **changes}
        values["overdue"] = "1" if values["overdue"] else ""
        return "/staff?" + urlencode({k: v for k, v in values.items() if v not in ("", None)})


@router.get("/staff", include_in_schema=False)
def queue(
    request: Request,
    actor: ReportView,
    state: str = "active",
    service: str = "",
    community: str = "",
    department: str = "",
    overdue: str = "",
    sort: str = "",
    order: str = "asc",
    page: int = 1,
) -> Response:
    """The triage queue: the reports in the role's scope, new and unassigned first, filtered and sortable."""
    gov = _governance(request)
    ui = ui_for(request)
    states = gov.states
    now = now_utc()
    cities = {city.id: city.name for city in gov.jurisdictions().values()}
    query = QueueQuery(
        state if state in ("active", "all", *states.states) else "active",
        service,
        community,
        department,
        overdue in ("1", "true", "on", "yes"),
        sort if sort in SORTS else "",
        "desc" if order == "desc" else "asc",
        max(1, page),
    )
    open_states = [name for name, s in states.states.items() if not s.closed]
    conditions = [actor.scope_clause()]
    if query.state == "active":
        conditions.append(Report.state.in_(open_states))
    elif query.state != "all":
        conditions.append(Report.state == query.state)
    for column, value in (
        (Report.service_code, service),
        (Report.community, community),
        (Report.department, department),
    ):
        if value:
            conditions.append(column == value)
    if query.overdue:
        conditions.append(Report.state.in_(open_states))
        conditions.append(Report.expected_at < now)
    if query.sort:
        column = SORTS[query.sort]
        ordering = [column.desc() if query.order == "desc" else column.asc(), Report.id.asc()]
    else:
        # New and unassigned first, then the oldest.
        ordering = [
            Report.assigned_to.is_not(None).asc(),
            (Report.state.not_in(["unconfirmed", "open"])).asc(),
            Report.created_at.asc(),
            Report.id.asc(),
        ]
    size = load_roles().pages["queue_page_size"]
    with gov.store.session() as session:
        total = session.scalar(select(func.count()).select_from(Report).where(*conditions)) or 0
        reports = session.scalars(
            select(Report).where(*conditions).order_by(*ordering).limit(size).offset((query.page - 1) * size)
        ).all()
        names = dict(session.execute(select(StaffUser.id, StaffUser.display_name)).all())
        communities = sorted(
            c for c in session.scalars(select(Report.community).where(actor.scope_clause()).distinct()) if c
        )
        rows = [
            {
                "id": r.id,
                "service": gov.services.name_of(r.service_code, ui.lang),
                "state": ui.pick(states[r.state].label, r.state),
                "community": r.community or "",
                "city": cities.get(r.jurisdiction, r.jurisdiction),
                "department": _department_name(gov, ui, r.department),
                "assigned": names.get(r.assigned_to, "") if r.assigned_to else "",
                "age": _age(now - r.created_at, ui.gettext),
                "overdue": is_overdue(r, states=states, now=now),
                "description": (r.description or "")[:120],
            }
            for r in reports
        ]
    columns = []
    for key, label in (
        ("id", ui.gettext("No.")),
        ("service", ui.gettext("Service")),
        ("state", ui.gettext("State")),
        ("community", ui.gettext("Community")),
        ("city", ui.gettext("City")),
        ("department", ui.gettext("Department")),
        ("age", ui.gettext("Age")),
        ("due", ui.gettext("Overdue")),
    ):
        if key == "city" and len(cities) < 2:
            continue  # one city served: the column would say the same on every row
        sorted_here = query.sort == key
        next_order = "desc" if sorted_here and query.order == "asc" else "asc"
        columns.append(
            {
                "key": key,
                "label": label,
                "href": query.link(sort=key, order=next_order, page=1),
                "sorted": sorted_here,
                "aria_sort": ("descending" if query.order == "desc" else "ascending")
                if sorted_here
                else None,
            }
        )
    pages = max(1, math.ceil(total / size))
    return _page(
        request,
        "staff_queue.html",
        {
            "title": ui.gettext("Reports to triage"),
            "page": "staff-queue",
            "rows": rows,
            "total": total,
            "query": query,
            "columns": columns,
            "pages": pages,
            "previous": query.link(page=query.page - 1) if query.page > 1 else None,
            "following": query.link(page=query.page + 1) if query.page < pages else None,
            "state_choices": [(name, ui.pick(s.label, name)) for name, s in states.states.items()],
            "service_choices": [(s.code, ui.pick(s.name, s.code)) for s in gov.services],
            "department_choices": [(code, ui.pick(n, code)) for code, n in gov.services.departments.items()],
            "community_choices": communities,
            "many_cities": len(cities) > 1,
        },
        actor=actor,
    )


def _department_name(gov: Governance, ui: Any, code: str | None) -> str:
    if not code:
        return ""
    names = gov.services.departments.get(code)
    return ui.pick(names, code) if names else code


# ------------------------------------------------------------------------------------------ one report
@router.get("/staff/reports/{report_id}", include_in_schema=False)
def report_page(request: Request, report_id: int, actor: ReportView, done: str = "") -> Response:
    """A report for staff: details, photos, history, moderation history, and the forms the role may use."""
    return _report_page(request, actor, report_id, done=done)


def _report_page(
    request: Request,
    actor: Actor,
    report_id: int,
    *,
    done: str = "",
    error: StaffError | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    from exquisite.web.pages_report import answers_shown  # imports the app: not at module level

    gov = _governance(request)
    ui = ui_for(request)
    states = gov.states
    now = now_utc()
    with gov.store.session() as session:
        report = _scoped(session, actor, report_id)
        names = dict(session.execute(select(StaffUser.id, StaffUser.display_name)).all())
        colleagues = session.execute(
            select(StaffUser.id, StaffUser.display_name)
            .where(
                StaffUser.active.is_(True),
                StaffUser.department == report.department,
                or_(StaffUser.jurisdiction.is_(None), StaffUser.jurisdiction == report.jurisdiction),
            )
            .order_by(StaffUser.display_name)
        ).all()
        events = [
            {
                "at": _when(e.at),
                "kind": e.kind,
                "kind_label": event_kind_label(e.kind, ui.gettext),
                "state_from": ui.pick(states[e.state_from].label, e.state_from) if e.state_from else "",
                "state_to": ui.pick(states[e.state_to].label, e.state_to) if e.state_to else "",
                "text": _department_name(gov, ui, e.text) if e.kind == "department" else e.text or "",
                "public": e.public,
                "staff": names.get(e.staff_id, "") if e.staff_id else "",
            }
            for e in report.events
        ]
        edits = [
            {
                "at": _when(e.at),
                "field": e.field,
                "old": e.old_value or "",
                "new": e.new_value or "",
                "reason": e.reason,
                "staff": names.get(e.staff_id, "") if e.staff_id else "",
            }
            for e in session.scalars(
                select(ReportEdit).where(ReportEdit.report_id == report.id).order_by(ReportEdit.id)
            )
        ]
        contact = None
        if (
            actor.can("report_view_contact")
            and report.reporter is not None
            and report.reporter.erased_at is None
        ):
            contact = {
                "name": report.reporter.name or "",
                "email": report.reporter.email or "",
                "phone": report.reporter.phone or "",
                "wants_updates": report.reporter.wants_updates,
            }
        targets = [t for t in states.transitions.get(report.state, ()) if t != "hidden"]
        details = {
            "id": report.id,
            "service": gov.services.name_of(report.service_code, ui.lang),
            "service_code": report.service_code,
            "state": report.state,
            "state_label": ui.pick(states[report.state].label, report.state),
            "description": report.description or "",
            "address": report.address or "",
            "lat": report.lat,
            "lon": report.lon,
            "community": report.community or "",
            "department": report.department or "",
            "department_label": _department_name(gov, ui, report.department),
            "assigned_to": report.assigned_to,
            "assigned": names.get(report.assigned_to, "") if report.assigned_to else "",
            "channel": report.channel,
            "public_name": report.public_name or "",
            "duplicate_of": report.duplicate_of,
            "created": _when(report.created_at),
            "expected": _when(report.expected_at),
            "closed": _when(report.closed_at) if report.closed_at else "",
            "age": _age(now - report.created_at, ui.gettext),
            "overdue": is_overdue(report, states=states, now=now),
            "answers": answers_shown(
                ui, gov.services.get(report.service_code), dict(report.attributes or {})
            ),
            "photos": [
                {"id": p.id, "hidden": p.hidden, "width": p.width, "height": p.height} for p in report.photos
            ],
            "hidden": report.state == "hidden",
        }
    return _page(
        request,
        "staff_report.html",
        {
            "title": ui.gettext("Report %(id)s") % {"id": report_id},
            "report": details,
            "events": events,
            "edits": edits,
            "contact": contact,
            "may_see_contact": actor.can("report_view_contact"),
            "targets": [(t, ui.pick(states[t].label, t)) for t in targets],
            "may_duplicate": "duplicate" in targets,
            "may_hide": states.allowed(details["state"], "open" if details["hidden"] else "hidden"),
            "colleagues": colleagues,
            "department_choices": [(code, ui.pick(n, code)) for code, n in gov.services.departments.items()],
            "done": done,
            "error": staff_error_text(ui, error, gov.states) if error else None,
        },
        status_code,
        actor=actor,
    )


@router.get("/staff/reports/{report_id}/photos/{photo_id}", include_in_schema=False)
def report_photo(request: Request, report_id: int, photo_id: int, actor: ReportView) -> Response:
    """A report's photo as staff see it (hidden photos too)."""
    with _governance(request).store.session() as session:
        _scoped(session, actor, report_id)
        photo = session.get(Photo, photo_id)
        if photo is None or photo.report_id != report_id:
            raise _not_found()
        return Response(
            photo.data,
            media_type=photo.content_type,
            headers={
                "Cache-Control": "no-store",
                "Content-Disposition": f'inline; filename="report-{report_id}-{photo_id}"',
            },
        )


def _form_error(request: Request, actor: Actor, report_id: int, error: StaffError) -> HTMLResponse:
    return _report_page(request, actor, report_id, error=error, status_code=400)


def _audited(
    request: Request,
    session: Session,
    actor: Actor,
    action: str,
    target: Report | StaffUser,
    detail: dict[str, Any],
) -> None:
    """Record a staff action done on a report or an account, in the action's own transaction."""
    audit(
        session,
        action,
        staff_id=actor.id,
        object_type="report" if isinstance(target, Report) else "staff_user",
        object_id=target.id,
        detail=detail,
        ip_hash=_client_hash(request),
    )


def _change_report(
    request: Request,
    actor: Actor,
    report_id: int,
    action: str,
    change: Callable[[Session, Report], dict[str, Any]],
) -> Response:
    """Do one staff action on a report in one transaction, audited, and go back to the report's page.

    ``change`` does it to the report (in the role's scope) and returns the audit entry's detail; a
    :class:`StaffError` it raises shows the report's page again with the message, and nothing is stored. The
    mail worker is woken for any email the action queued.
    """
    gov = _governance(request)
    try:
        with gov.store.session() as session:
            report = _scoped(session, actor, report_id)
            _audited(request, session, actor, action, report, change(session, report))
    except StaffError as error:
        return _form_error(request, actor, report_id, error)
    gov.queued_mail()
    return _back(report_id, action)


def _record(
    report: Report, actor: Actor, kind: str, text: str | None, *, public: bool = False
) -> ReportEvent:
    """A step of the report's history by ``actor``, now (the report's last change)."""
    event = ReportEvent(at=now_utc(), kind=kind, text=text, public=public, staff_id=actor.id)
    report.events.append(event)
    report.updated_at = event.at
    return event


def _move(
    request: Request,
    actor: Actor,
    session: Session,
    report: Report,
    target: str,
    *,
    note: str,
    public: bool,
    duplicate_of: int | None,
) -> dict[str, Any]:
    """Move a report (history, the reporter's email) within the action's transaction; the audit detail."""
    gov = _governance(request)
    text = _text(note, "note")
    if not gov.states.allowed(report.state, target):
        field = "duplicate_of" if target == "duplicate" else "state"
        raise StaffError(field, "transition", state=report.state, target=target)
    if target == "duplicate" and duplicate_of is None:
        raise StaffError("duplicate_of", "not_a_duplicate")
    if duplicate_of is not None:
        original = session.get(Report, duplicate_of)
        if original is None or not actor.covers(original) or original.jurisdiction != report.jurisdiction:
            raise StaffError("duplicate_of", "no_such_original", value=duplicate_of)
        if original.id == report.id:
            raise StaffError("duplicate_of", "not_a_duplicate")
    before = report.state
    event = move(
        session,
        report,
        target,
        staff_id=actor.id,
        note=text or None,
        public=public,
        duplicate_of=duplicate_of,
        states=gov.states,
    )
    notices.notify_update(session, report, event, gov.settings, services=gov.services, states=gov.states)
    return {"from": before, "to": target, "public": public, "note": bool(text), "duplicate_of": duplicate_of}


def _duplicate_id(value: str) -> int | None:
    value = (value or "").strip().lstrip("#")
    if not value:
        return None
    if not value.isdigit():
        raise StaffError("duplicate_of", "not_a_report_number", value=repr(value[:20]))
    return int(value)


@router.post("/staff/reports/{report_id}/state", include_in_schema=False)
def report_state(
    request: Request,
    report_id: int,
    actor: ReportInspectForm,
    state: str = Form(""),
    note: str = Form(""),
    public: str = Form(""),
    duplicate_of: str = Form(""),
) -> Response:
    """Move a report to another state (not hidden: that is moderation's), with a public or internal note."""
    if state == "duplicate" and not actor.can("report_mark_duplicate"):
        _deny(request, actor, "report_state", "permission", permission="report_mark_duplicate")
        raise DeniedError(
            ui_for(request).gettext("Your role may not do this. Ask an administrator if you need it.")
        )

    def change(session: Session, report: Report) -> dict[str, Any]:
        if state == "hidden" or state not in _governance(request).states.states:
            raise StaffError("state", "not_a_choosable_state", value=repr(state[:30]))
        original = _duplicate_id(duplicate_of) if state == "duplicate" else None
        return _move(
            request, actor, session, report, state, note=note, public=public == "1", duplicate_of=original
        )

    return _change_report(request, actor, report_id, "report_state", change)


@router.post("/staff/reports/{report_id}/duplicate", include_in_schema=False)
def report_duplicate(
    request: Request,
    report_id: int,
    actor: ReportMarkDuplicateForm,
    duplicate_of: str = Form(""),
    note: str = Form(""),
) -> Response:
    """Close a report as a duplicate of another one (its number required); residents see the note."""

    def change(session: Session, report: Report) -> dict[str, Any]:
        original = _duplicate_id(duplicate_of)
        if original is None:
            raise StaffError("duplicate_of", "original_required")
        return _move(
            request, actor, session, report, "duplicate", note=note, public=True, duplicate_of=original
        )

    return _change_report(request, actor, report_id, "report_duplicate", change)


@router.post("/staff/reports/{report_id}/note", include_in_schema=False)
def report_note(
    request: Request,
    report_id: int,
    actor: ReportInspectForm,
    note: str = Form(""),
    public: str = Form(""),
) -> Response:
    """Add a note without changing the state: internal, or public (then the reporter is told)."""
    gov = _governance(request)

    def change(session: Session, report: Report) -> dict[str, Any]:
        text = _text(note, "note")
        if not text:
            raise StaffError("note", "note_empty")
        event = _record(report, actor, "note", text, public=public == "1")
        if event.public:
            report.status_notes = text
        session.flush()
        notices.notify_update(session, report, event, gov.settings, services=gov.services, states=gov.states)
        return {"public": event.public}

    return _change_report(request, actor, report_id, "report_note", change)


@router.post("/staff/reports/{report_id}/assign", include_in_schema=False)
def report_assign(
    request: Request,
    report_id: int,
    actor: AssignReportToUserForm,
    staff_id: str = Form(""),
) -> Response:
    """Assign a report to a member of staff of its department (empty: nobody)."""

    def change(session: Session, report: Report) -> dict[str, Any]:
        person = None
        if staff_id.strip():
            person = session.get(StaffUser, int(staff_id)) if staff_id.strip().isdigit() else None
            if (
                person is None
                or not person.active
                or person.department != report.department
                or person.jurisdiction not in (None, report.jurisdiction)
            ):
                raise StaffError("staff_id", "not_a_colleague")
        before = report.assigned_to
        report.assigned_to = person.id if person else None
        _record(report, actor, "assigned", person.display_name if person else None)
        return {"from": before, "to": report.assigned_to}

    return _change_report(request, actor, report_id, "report_assign", change)


@router.post("/staff/reports/{report_id}/department", include_in_schema=False)
def report_department(
    request: Request,
    report_id: int,
    actor: ReportAssignDepartmentForm,
    department: str = Form(""),
) -> Response:
    """Send a report to another department (its assignee is cleared)."""

    def change(session: Session, report: Report) -> dict[str, Any]:
        if department not in _governance(request).services.departments:
            raise StaffError("department", "not_a_department_here", value=repr(department[:40]))
        before = report.department
        report.department = department
        report.assigned_to = None
        _record(report, actor, "department", department)
        return {"from": before, "to": department}

    return _change_report(request, actor, report_id, "report_department", change)


@router.post("/staff/reports/{report_id}/moderate", include_in_schema=False)
async def report_moderate(request: Request, report_id: int, actor: ModerateForm) -> Response:
    """Edit the description and hide or show photos, with a reason: each change is a ReportEdit (old, new)."""
    gov = _governance(request)
    fields = await request.form()

    def change(session: Session, report: Report) -> dict[str, Any]:
        reason = _text(str(fields.get("reason") or ""), "reason")
        if not reason:
            raise StaffError("reason", "reason_required")
        description = _text(
            str(fields.get("description") or ""), "description", gov.settings.reports.description_max_chars
        )
        hide = {int(v) for v in fields.getlist("hide_photo") if str(v).isdigit()}
        edits = []
        if "description" in fields and description != (report.description or ""):
            edits.append(ReportEdit(field="description", old_value=report.description, new_value=description))
            report.description = description
        for photo in report.photos:
            wanted = photo.id in hide
            if photo.hidden != wanted:
                edits.append(
                    ReportEdit(
                        field=f"photo:{photo.id}",
                        old_value="hidden" if photo.hidden else "shown",
                        new_value="hidden" if wanted else "shown",
                    )
                )
                photo.hidden = wanted
        if not edits:
            raise StaffError("description", "nothing_changed")
        now = now_utc()
        for edit in edits:
            edit.report_id = report.id
            edit.at = now
            edit.staff_id = actor.id
            edit.reason = reason
            session.add(edit)
        report.updated_at = now
        return {"fields": [e.field for e in edits], "reason": reason}

    return _change_report(request, actor, report_id, "report_moderate", change)


@router.post("/staff/reports/{report_id}/visibility", include_in_schema=False)
def report_visibility(
    request: Request,
    report_id: int,
    actor: ReportHideForm,
    action: str = Form(""),
    reason: str = Form(""),
) -> Response:
    """Hide a report from the public (state ``hidden``) or show it again (back to ``open``), with a reason."""

    def change(session: Session, report: Report) -> dict[str, Any]:
        text = _text(reason, "reason")
        if not text:
            raise StaffError("reason", "visibility_reason_required")
        if action not in ("hide", "unhide"):
            raise StaffError("action", "not_hide_or_unhide")
        target = "hidden" if action == "hide" else "open"
        return _move(request, actor, session, report, target, note=text, public=False, duplicate_of=None)

    return _change_report(request, actor, report_id, f"report_{action}", change)


# ------------------------------------------------------------------------------------------ audit log
@router.get("/staff/audit", include_in_schema=False)
def audit_log(request: Request, actor: AuditView, page: int = 1, outcome: str = "") -> Response:
    """The audit log, newest first (administrators)."""
    gov = _governance(request)
    ui = ui_for(request)
    size = load_roles().pages["audit_page_size"]
    page = max(1, page)
    conditions = [AuditEntry.outcome == outcome] if outcome in ("ok", "denied") else []
    with gov.store.session() as session:
        names = dict(session.execute(select(StaffUser.id, StaffUser.username)).all())
        total = session.scalar(select(func.count()).select_from(AuditEntry).where(*conditions)) or 0
        entries = [
            {
                "at": _when(e.at),
                "staff": names.get(e.staff_id, "") if e.staff_id else "",
                "action": e.action,
                "object": f"{e.object_type} {e.object_id}" if e.object_type else "",
                "outcome": e.outcome,
                "detail": ", ".join(f"{k}: {v}" for k, v in sorted((e.detail or {}).items())),
                "ip_hash": (e.ip_hash or "")[:12],
            }
            for e in session.scalars(
                select(AuditEntry)
                .where(*conditions)
                .order_by(AuditEntry.id.desc())
                .limit(size)
                .offset((page - 1) * size)
            )
        ]
    pages = max(1, math.ceil(total / size))
    suffix = f"&outcome={outcome}" if outcome in ("ok", "denied") else ""
    return _page(
        request,
        "staff_audit.html",
        {
            "title": ui.gettext("Audit log"),
            "page": "staff-audit",
            "entries": entries,
            "total": total,
            "outcome": outcome,
            "previous": f"/staff/audit?page={page - 1}{suffix}" if page > 1 else None,
            "following": f"/staff/audit?page={page + 1}{suffix}" if page < pages else None,
        },
        actor=actor,
    )


# ------------------------------------------------------------------------------------------ users
@router.get("/staff/users", include_in_schema=False)
def users_page(request: Request, actor: UserEdit, done: str = "") -> Response:
    """Staff accounts (administrators): create, change role, deactivate."""
    return _users_page(request, actor, done=done)


def _users_page(
    request: Request,
    actor: Actor,
    *,
    done: str = "",
    error: StaffError | None = None,
    status_code: int = 200,
    entered: dict[str, str] | None = None,
) -> HTMLResponse:
    gov = _governance(request)
    ui = ui_for(request)
    with gov.store.session() as session:
        users = [
            {
                "id": u.id,
                "username": u.username,
                "display_name": u.display_name,
                "role": u.role,
                "department": u.department or "",
                "community": u.community or "",
                "jurisdiction": u.jurisdiction or "",
                "active": u.active,
                "locked": u.locked_until is not None and u.locked_until > now_utc(),
            }
            for u in session.scalars(select(StaffUser).order_by(StaffUser.username))
        ]
    return _page(
        request,
        "staff_users.html",
        {
            "title": ui.gettext("Staff accounts"),
            "page": "staff-users",
            "users": users,
            "department_choices": [(code, ui.pick(n, code)) for code, n in gov.services.departments.items()],
            "jurisdiction_choices": [
                (city.id, f"{city.name} · {city.id}") for city in gov.jurisdictions().values()
            ],
            "done": done,
            "error": staff_error_text(ui, error, gov.states) if error else None,
            "entered": entered or {},
        },
        status_code,
        actor=actor,
    )


@router.post("/staff/users", include_in_schema=False)
def users_create(
    request: Request,
    actor: UserEditForm,
    username: str = Form(""),
    display_name: str = Form(""),
    password: str = Form(""),
    role: str = Form(""),
    department: str = Form(""),
    community: str = Form(""),
    jurisdiction: str = Form(""),
) -> Response:
    """Create a staff account (audited; the password is never logged)."""
    gov = _governance(request)
    try:
        with gov.store.session() as session:
            user = create_staff(
                session,
                username,
                display_name,
                password,
                role,
                department,
                community,
                jurisdiction=jurisdiction,
                departments=gov.services.departments,
                jurisdictions=_served(gov),
            )
            _audited(
                request,
                session,
                actor,
                "user_create",
                user,
                {
                    "username": user.username,
                    "role": role,
                    "department": user.department,
                    "community": user.community,
                    "jurisdiction": user.jurisdiction,
                },
            )
    except StaffError as error:
        entered = {
            "username": username,
            "display_name": display_name,
            "role": role,
            "department": department,
            "community": community,
            "jurisdiction": jurisdiction,
        }
        return _users_page(request, actor, error=error, status_code=400, entered=entered)
    return RedirectResponse("/staff/users?done=user_create", status_code=303)


@router.post("/staff/users/{user_id}", include_in_schema=False)
def users_change(
    request: Request,
    user_id: int,
    actor: UserManagePermissionsForm,
    role: str = Form(""),
    department: str = Form(""),
    community: str = Form(""),
    jurisdiction: str = Form(""),
    active: str = Form(""),
) -> Response:
    """Change an account's role (with its department or community, and city) and whether it is active."""
    gov = _governance(request)
    try:
        with gov.store.session() as session:
            user = session.get(StaffUser, user_id)
            if user is None:
                raise _not_found()
            wants_active = active == "1"
            if user.id == actor.id and (not wants_active or role != user.role):
                raise StaffError("role", "own_account")
            changes = change_staff(
                session,
                user,
                role=role,
                department=department,
                community=community,
                jurisdiction=jurisdiction,
                active=wants_active,
                departments=gov.services.departments,
                jurisdictions=_served(gov),
            )
            if changes:
                _audited(
                    request,
                    session,
                    actor,
                    "user_change",
                    user,
                    {name: list(pair) for name, pair in changes.items()},
                )
    except StaffError as error:
        return _users_page(request, actor, error=error, status_code=400)
    return RedirectResponse("/staff/users?done=user_change", status_code=303)
