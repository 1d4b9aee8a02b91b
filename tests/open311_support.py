"""Helpers of the Open311 tests (test_open311*.py): an API key, a photo, the stored row counts.

Not a fixture module of conftest.py: the tests import what they use from here.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image
from sqlalchemy import func, select

#: The railway station square, inside the demo jurisdiction (helsinki-demo).
CENTRE = {"lat": "60.1708", "long": "24.9441"}
#: A point south of the demo extract, at sea (outside the jurisdiction).
OUTSIDE = {"lat": "60.1500", "long": "24.9550"}
PREFIX = "/open311/v2"


def new_key(governance: Any, name: str = "test client") -> str:
    """A fresh API key made as staff make one (``apikeys.create_api_key`` in one transaction)."""
    from exquisite.governance.apikeys import create_api_key

    with governance.store.session() as session:
        return create_api_key(session, name)


def counts(governance: Any) -> dict[str, int]:
    """Rows stored in the report, reporter, photo and report_event tables."""
    from exquisite.governance.models import Photo, Report, Reporter, ReportEvent

    with governance.store.session() as session:
        return {
            table.__tablename__: int(session.scalar(select(func.count()).select_from(table)) or 0)
            for table in (Report, Reporter, Photo, ReportEvent)
        }


def jpeg_with_exif(width: int = 64, height: int = 48) -> bytes:
    """A small JPEG carrying EXIF metadata (camera make and a GPS block) that the server must strip."""
    image = Image.new("RGB", (width, height), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "SecretCameraMaker"
    exif[0x8825] = {1: "N", 2: (60.0, 10.0, 15.0)}
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def report_form(key: str, **extra: str) -> dict[str, str]:
    """A post for service 001 (street light) at the centre, as the spec's example shapes it."""
    return {
        "api_key": key,
        "service_code": "001",
        **CENTRE,
        "address_string": "Kaivokatu 1, Kluuvi, Helsinki",
        "email": "resident@example.org",
        "first_name": "Anna",
        "last_name": "Virtanen",
        "phone": "+358401234567",
        "device_id": "device-42",
        "description": "The street light by the station entrance is out.",
        "attribute[light_state]": "out",
        **extra,
    }


#: Reporter data of :func:`report_form` that must never appear in anything public.
PERSONAL = ("resident@example.org", "Anna", "Virtanen", "+358401234567", "device-42")
