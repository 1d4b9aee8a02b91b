"""The emails residents get about their report: the link that publishes it, "published", and each update.

A resident's language is not stored, so every email is written in English and Chinese, one after the other,
in one message. Each is queued with :func:`exquisite.governance.mail.queue_mail` in the caller's
transaction (the email is sent only if the report's change commits); call ``governance.queued_mail()`` after
the commit to send it at once.

::

    with store.session() as session:
        report, secret = submit(session, submission, needs_confirmation=True)
        notify_confirmation(session, report, secret, settings, email=submission.email)
    governance.queued_mail()

    with store.session() as session:                        # staff move a report
        event = move(session, report, "fixed", staff_id=staff.id, note="Lamp replaced.")
        notify_update(session, report, event, settings)

No email ever carries another resident's data, a staff member's name or an internal note.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from exquisite.governance.mail import queue_mail
from exquisite.governance.models import OutboxMessage, Report, ReportEvent
from exquisite.governance.services import ServiceCatalogue, load_services
from exquisite.governance.settings import Settings
from exquisite.governance.states import StateModel, load_states
from exquisite.outputs.i18n import pick

__all__ = [
    "confirmation_link",
    "notify_confirmation",
    "notify_published",
    "notify_update",
    "status_link",
]

#: The line between the English and the Chinese text of one email.
DIVIDER = "\n\n" + "-" * 40 + "\n\n"


def status_link(settings: Settings, report: Report) -> str:
    """The public address of a report's status page."""
    return f"{settings.public_base_url.rstrip('/')}/reports/{report.id}"


def confirmation_link(settings: Settings, secret: str) -> str:
    """The address that publishes a report (its secret is known to the reporter's mailbox only)."""
    return f"{settings.public_base_url.rstrip('/')}/report/confirm/{secret}"


def _service_names(report: Report, services: ServiceCatalogue | None) -> tuple[str, str]:
    catalogue = services or load_services()
    return catalogue.name_of(report.service_code, "en"), catalogue.name_of(report.service_code, "zh")


def _queue(
    session: Session, report: Report, email: str, subject: tuple[str, str], body: tuple[str, str]
) -> OutboxMessage:
    """Queue one email in English and then Chinese (subject and body, each as ``(english, chinese)``)."""
    return queue_mail(
        session,
        to=email,
        subject=f"{subject[0]} / {subject[1]}",
        body=body[0] + DIVIDER + body[1] + "\n",
        report_id=report.id,
    )


def notify_confirmation(
    session: Session,
    report: Report,
    secret: str,
    settings: Settings,
    *,
    email: str,
    services: ServiceCatalogue | None = None,
) -> OutboxMessage:
    """Queue the email with the link that publishes a new report.

    Parameters
    ----------
    session
        The transaction that stores the report (the email goes only if it commits).
    report
        The new, unconfirmed report (its ``id`` assigned).
    secret
        The confirmation secret :func:`~exquisite.governance.reports.submit` returned.
    settings
        The service's settings (``public_base_url``, ``reports.confirmation_hours``).
    email
        The reporter's address.
    services
        The service catalogue (default: the built-in one).

    Returns
    -------
    OutboxMessage
        The queued email.
    """
    en_service, zh_service = _service_names(report, services)
    link = confirmation_link(settings, secret)
    hours = settings.reports.confirmation_hours
    english = (
        f"Thank you for your report #{report.id}: {en_service}.\n\n"
        f"To publish it, open this link within {hours} hours:\n{link}\n\n"
        "Until you do, nobody else can see it. If you did not make this report, ignore this email: "
        "nothing will be published."
    )
    chinese = (
        f"感谢您提交第 {report.id} 号报告：{zh_service}。\n\n"
        f"请在 {hours} 小时内打开以下链接以发布报告：\n{link}\n\n"
        "在此之前，其他人看不到这份报告。如果这不是您提交的报告，请忽略本邮件，报告不会被发布。"
    )
    return _queue(
        session,
        report,
        email,
        (f"Confirm your report #{report.id}", f"请确认您的第 {report.id} 号报告"),
        (english, chinese),
    )


def notify_published(
    session: Session, report: Report, settings: Settings, *, services: ServiceCatalogue | None = None
) -> OutboxMessage | None:
    """Queue the email that tells the reporter their report is now public, with its status page.

    Parameters
    ----------
    session
        The transaction that confirms the report.
    report
        The report just confirmed.
    settings
        The service's settings.
    services
        The service catalogue (default: the built-in one).

    Returns
    -------
    OutboxMessage or None
        The queued email; None when the reporter left no address (or it was erased).
    """
    email = _reporter_email(report)
    if email is None:
        return None
    en_service, zh_service = _service_names(report, services)
    link = status_link(settings, report)
    if report.reporter is not None and report.reporter.wants_updates:
        updates_en, updates_zh = (
            "We will email you when its state changes.",
            "报告状态变化时，我们会发邮件通知您。",
        )
    else:
        updates_en = "You asked for no updates by email; the page above always shows its state."
        updates_zh = "您选择了不接收邮件更新；上面的页面随时显示报告的状态。"
    english = (
        f"Your report #{report.id} ({en_service}) is now published and has been sent to the city's staff.\n\n"
        f"Follow it here:\n{link}\n\n{updates_en}"
    )
    chinese = (
        f"您的第 {report.id} 号报告（{zh_service}）已发布，并已转交城市工作人员处理。\n\n"
        f"在此查看处理进度：\n{link}\n\n{updates_zh}"
    )
    return _queue(
        session,
        report,
        email,
        (f"Your report #{report.id} is published", f"您的第 {report.id} 号报告已发布"),
        (english, chinese),
    )


def notify_update(
    session: Session,
    report: Report,
    event: ReportEvent,
    settings: Settings,
    *,
    services: ServiceCatalogue | None = None,
    states: StateModel | None = None,
) -> OutboxMessage | None:
    """Queue the email that tells the reporter what happened to their report (a state change, a public note).

    Call it in the transaction that records ``event`` (e.g. right after
    :func:`~exquisite.governance.reports.move`).

    Parameters
    ----------
    session
        The staff action's transaction (the email goes only if it commits).
    report
        The report, in its new state.
    event
        The history step just recorded (``kind`` ``state`` or a note; ``state_to`` and ``text`` are read).
    settings
        The service's settings (``public_base_url``).
    services, states
        The service catalogue and state model (default: the built-in ones).

    Returns
    -------
    OutboxMessage or None
        The queued email; None — nothing sent — when the step is not public, the report is not public
        (unconfirmed, hidden), the reporter asked for no updates, or left no address (or it was erased).
    """
    states = states or load_states()
    if not event.public or report.state not in states.public():
        return None
    if report.reporter is None or not report.reporter.wants_updates:
        return None
    email = _reporter_email(report)
    if email is None:
        return None
    en_service, zh_service = _service_names(report, services)
    link = status_link(settings, report)
    state = states[report.state]
    note = (event.text or "").strip()
    english = f"There is news about your report #{report.id} ({en_service}).\n\n"
    chinese = f"您的第 {report.id} 号报告（{zh_service}）有新进展。\n\n"
    if event.state_to and event.state_to != event.state_from:
        english += f"Its state is now: {pick(state.label, 'en')}.\n"
        chinese += f"当前状态：{pick(state.label, 'zh')}。\n"
    if note:
        english += f"\nThe city's staff wrote:\n{note}\n"
        chinese += f"\n城市工作人员的说明：\n{note}\n"
    english += f"\nSee its whole history here:\n{link}"
    chinese += f"\n在此查看完整处理记录：\n{link}"
    return _queue(
        session,
        report,
        email,
        (f"Update on your report #{report.id}", f"您的第 {report.id} 号报告有更新"),
        (english, chinese),
    )


def _reporter_email(report: Report) -> str | None:
    """The reporter's address, unless there is none or it was erased."""
    reporter = report.reporter
    if reporter is None or reporter.erased_at is not None or not reporter.email:
        return None
    return reporter.email
