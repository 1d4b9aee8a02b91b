"""The governance service as the web app holds it: settings, store, services, states, secret, limits, mail.

``open_governance(settings, catalogue)`` opens (and migrates) the store, loads or creates the service's
secret, and starts the mail worker; ``governance.close()`` stops it. The cities served are the runs
folder's regions: each region is an Open311 jurisdiction (``jurisdiction_id`` = the region folder's name)
whose latest run gives its boundary and communities.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from exquisite.governance.communities import Jurisdiction, jurisdictions
from exquisite.governance.db import Store
from exquisite.governance.mail import MailWorker
from exquisite.governance.ratelimit import Limits
from exquisite.governance.retention import RetentionWorker
from exquisite.governance.security import ip_hash, load_secret
from exquisite.governance.services import ServiceCatalogue, load_services
from exquisite.governance.settings import Settings
from exquisite.governance.states import StateModel, load_states
from exquisite.web.catalogue import RunCatalogue


class UnknownJurisdictionError(LookupError):
    """A jurisdiction_id that names no city served here, or none given where several are served."""

    def __init__(self, problem: str, status: int) -> None:
        self.problem = problem
        self.status = status
        super().__init__(problem)


@dataclass
class Governance:
    """Everything the governance pages and the Open311 API share, one per server process."""

    settings: Settings
    store: Store
    catalogue: RunCatalogue
    secret: bytes
    limits: Limits
    services: ServiceCatalogue = field(default_factory=load_services)
    states: StateModel = field(default_factory=load_states)
    mail: MailWorker | None = None
    retention: RetentionWorker | None = None

    def jurisdictions(self) -> dict[str, Jurisdiction]:
        """The cities served (jurisdiction id → jurisdiction), from the latest run of each region."""
        return jurisdictions(self.catalogue)

    def jurisdiction(self, jurisdiction_id: str | None) -> Jurisdiction:
        """The city a request is for.

        With one city served, ``jurisdiction_id`` may be left out (GeoReport v2: it is required only where an
        endpoint serves several).

        Raises
        ------
        UnknownJurisdictionError
            Status 404 for an id served nowhere here, 400 when it is missing but several cities are served.
        """
        served = self.jurisdictions()
        if jurisdiction_id:
            if jurisdiction_id not in served:
                known = ", ".join(sorted(served)) or "none"
                raise UnknownJurisdictionError(
                    f"jurisdiction_id {jurisdiction_id[:60]!r} is not served here (served: {known})", 404
                )
            return served[jurisdiction_id]
        if len(served) == 1:
            return next(iter(served.values()))
        if not served:
            raise UnknownJurisdictionError("no city is served here yet", 404)
        raise UnknownJurisdictionError(
            f"jurisdiction_id is required here: one of {', '.join(sorted(served))}", 400
        )

    def ip_hash(self, ip: str | None) -> str | None:
        """The keyed hash of a client's IP address (the address itself is never stored)."""
        return ip_hash(self.secret, ip) if ip else None

    def queued_mail(self) -> None:
        """Wake the mail worker after a transaction that queued email has committed."""
        if self.mail is not None:
            self.mail.wake()

    def close(self) -> None:
        """Stop the mail and retention workers and close the store's connections."""
        for worker in (self.mail, self.retention):
            if worker is not None:
                worker.stop()
        self.store.dispose()


def open_governance(settings: Settings, catalogue: RunCatalogue, *, send_mail: bool = True) -> Governance:
    """Open the governance service of ``settings`` over the cities of ``catalogue``.

    Parameters
    ----------
    settings
        From :func:`~exquisite.governance.settings.load_settings`.
    catalogue
        The runs served: each region is a jurisdiction.
    send_mail
        Whether to start the mail worker (False in tools that only read). The retention worker always runs.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.database())
    secret = load_secret(settings.data_dir)
    governance = Governance(
        settings=settings,
        store=store,
        catalogue=catalogue,
        secret=secret,
        limits=Limits(settings.rate_limits, secret),
    )
    if send_mail:
        governance.mail = MailWorker(store, settings.smtp, settings.smtp.poll_s)
        governance.mail.start()
    governance.retention = RetentionWorker(
        store, settings.retention, settings.sessions, settings.retention.every_minutes * 60
    )
    governance.retention.start()
    return governance
