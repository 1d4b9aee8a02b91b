"""The governance service's settings: ``data/governance.yml`` with a city's own file laid over it.

::

    settings = load_settings(Path("city-governance.yml"))   # or load_settings(None) for the defaults
    settings.database()                                      # the store's URL

A mistake in the city's file is one :class:`~exquisite.errors.InputError` naming the file and the key.
"""

from __future__ import annotations

import difflib
import os
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from exquisite.config import read_yaml
from exquisite.errors import InputError

#: Environment variable naming the store's URL (overrides the settings file; `exquisite serve --database`).
DATABASE_ENV = "EXQUISITE_DATABASE_URL"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Smtp(_Section):
    """The SMTP relay that sends confirmation links and updates."""

    host: str
    port: int = Field(ge=1, le=65535)
    sender: str
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout_s: float = Field(gt=0)
    poll_s: float = Field(gt=0)
    retry_first_s: float = Field(gt=0)
    retry_longest_s: float = Field(gt=0)
    max_attempts: int = Field(gt=0)


class ReportRules(_Section):
    """Limits of a report and of the Open311 lists."""

    description_max_chars: int = Field(gt=0)
    duplicate_radius_m: float = Field(gt=0)
    default_window_days: int = Field(gt=0)
    max_results: int = Field(gt=0)
    confirmation_hours: int = Field(gt=0)


class PhotoRules(_Section):
    """What an uploaded photo may be, and how it is re-encoded."""

    max_bytes: int = Field(gt=0)
    max_pixels: int = Field(gt=0)
    max_side_px: int = Field(gt=0)
    jpeg_quality: int = Field(ge=1, le=95)
    formats: tuple[str, ...]


class RateLimits(_Section):
    """Anti-automation budgets (per IP hash, account, API key, and for everyone together)."""

    reports_per_ip_per_hour: int = Field(gt=0)
    reports_per_account_per_hour: int = Field(gt=0)
    reports_per_api_key_per_minute: int = Field(gt=0)
    reports_global_per_minute: int = Field(gt=0)
    logins_per_ip_per_15_minutes: int = Field(gt=0)
    failed_logins_before_lockout: int = Field(gt=0)
    lockout_minutes: int = Field(gt=0)


class SessionRules(_Section):
    """Staff sessions' idle and absolute lifetimes."""

    idle_minutes: int = Field(gt=0)
    absolute_hours: int = Field(gt=0)


class Retention(_Section):
    """How long reporters' personal data and unconfirmed reports are kept."""

    contact_days_after_close: int = Field(gt=0)
    unconfirmed_days: int = Field(gt=0)
    every_minutes: float = Field(gt=0)


def _zone_name(name: str) -> str:
    """``name`` if it is an IANA time zone this machine knows (``Europe/Helsinki``), else ValueError."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"{name[:60]!r} is not an IANA time zone name; write one such as Europe/Helsinki or Asia/Shanghai"
        ) from None
    return name


#: An IANA time zone name, checked against the time zone database (``zoneinfo``).
ZoneName = Annotated[str, AfterValidator(_zone_name)]


class Settings(_Section):
    """All settings of the governance service (see ``data/governance.yml`` for each one's reason)."""

    source: str = ""
    data_dir: Path
    database_url: str | None = None
    public_base_url: str
    contact: str
    key_service: str
    smtp: Smtp
    reports: ReportRules
    photos: PhotoRules
    rate_limits: RateLimits
    sessions: SessionRules
    retention: Retention
    time_zones: dict[str, ZoneName] = Field(default_factory=dict)

    def time_zone(self, jurisdiction_id: str) -> ZoneInfo:
        """The city's own time zone for its Open311 datetimes (UTC for a city not in ``time_zones``).

        Parameters
        ----------
        jurisdiction_id
            The city's jurisdiction id (its region folder's name, e.g. ``helsinki-demo``).

        Returns
        -------
        ZoneInfo
            The zone named in ``time_zones``, else UTC.
        """
        return ZoneInfo(self.time_zones.get(jurisdiction_id, "UTC"))

    def database(self) -> str:
        """The store's URL: ``$EXQUISITE_DATABASE_URL``, else ``database_url``, else SQLite in data_dir."""
        from exquisite.governance.db import default_url

        return os.environ.get(DATABASE_ENV) or self.database_url or default_url(self.data_dir)


@cache
def _defaults() -> dict[str, Any]:
    return yaml.safe_load(files("exquisite").joinpath("data/governance.yml").read_text(encoding="utf-8"))


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _merge(base[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """The settings: the defaults, a city's file over them (paths relative to it), then ``overrides``.

    Parameters
    ----------
    path
        A city's governance YAML file, or None for the defaults.
    **overrides
        Top-level keys set from code or the command line (``data_dir``, ``database_url`` …).

    Raises
    ------
    InputError
        Naming the file and the key, for an unknown key, a wrong type or a value out of range.
    """
    data = _defaults()
    label = "governance defaults"
    base = Path.cwd()
    if path is not None:
        label = str(path)
        own = read_yaml(Path(path), label, "Write the settings to change, as in data/governance.yml.")
        if not isinstance(own, dict):
            raise InputError(
                label, "is not a mapping of settings", "Write key: value lines, as in the defaults."
            )
        data = _merge(data, own)
        base = Path(path).resolve().parent
    data = _merge(data, {key: value for key, value in overrides.items() if value is not None})
    try:
        settings = Settings.model_validate(data)
    except ValidationError as error:
        raise _input_error(error, label) from None
    if not settings.data_dir.is_absolute():
        settings = settings.model_copy(update={"data_dir": base / settings.data_dir})
    return settings


def _input_error(error: ValidationError, label: str) -> InputError:
    first = error.errors()[0]
    loc = tuple(str(part) for part in first["loc"])
    where = f"{label}: {'.'.join(loc)}"
    if first["type"] == "extra_forbidden":
        model: type[BaseModel] = Settings
        for part in loc[:-1]:
            field = model.model_fields.get(part)
            if (
                field is None
                or not isinstance(field.annotation, type)
                or not issubclass(field.annotation, BaseModel)
            ):
                break
            model = field.annotation
        known = sorted(model.model_fields)
        close = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.6)
        hint = f"Did you mean '{close[0]}'? " if close else ""
        return InputError(where, f"unknown key '{loc[-1]}'", f"{hint}Known keys here: {', '.join(known)}.")
    message = str(first["msg"]).removeprefix("Value error, ")
    return InputError(where, message, "See data/governance.yml for what each setting takes.")
