"""Fixtures of the web app with the governance service on (see conftest.py).

``governance_settings`` — settings whose store is ``governance_url`` (SQLite and PostgreSQL, from
governance_support.py), whose data folder is the test's own, and whose email goes to the ``smtp_sink``
(mail_support.py). ``governance_client`` — a TestClient of ``create_app(demo_runs_root, governance=...)``,
entered so that the app's lifespan opens the service (store migrated, mail worker started) and closes it.
The demo run's region, ``helsinki-demo``, is the one jurisdiction served.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: The jurisdiction_id of the demo run (its region folder).
DEMO_JURISDICTION = "helsinki-demo"


@pytest.fixture
def governance_settings(governance_url: str, smtp_sink: Any, tmp_path: Path) -> Any:
    """Governance settings for one test: its own store, data folder and SMTP sink."""
    from exquisite.governance.settings import load_settings

    return load_settings(
        None,
        data_dir=tmp_path / "governance",
        database_url=governance_url,
        public_base_url="http://testserver",
        smtp={"host": smtp_sink.host, "port": smtp_sink.port},
    )


@pytest.fixture
def governance_client(demo_runs_root: Path, governance_settings: Any) -> Iterator[Any]:
    """A test client of the whole web app with the governance service open."""
    from fastapi.testclient import TestClient

    from exquisite.web.app import create_app

    app = create_app(demo_runs_root, governance=governance_settings)
    with TestClient(app) as client:
        yield client
