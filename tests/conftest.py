"""Test fixtures: real stores (SQLite file and PostgreSQL), a real Prefect server, real SMTP.

`store` runs each test that uses it twice, on SQLite and on PostgreSQL (127.0.0.1:5432,
database `test`; each pytest-xdist worker gets a database of its own, created here).
GRANTFLOW_TEST_BACKENDS=sqlite (or postgresql) narrows the run.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from core import settings as settings_module  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from db.session import engine_for  # noqa: E402

pytest_plugins = ["tests.smtp_server"]

from tests.support import empty_store, load_examples  # noqa: E402

PG_ADMIN_URL = os.environ.get("GRANTFLOW_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = os.environ.get("GRANTFLOW_TEST_BACKENDS", "sqlite,postgresql").split(",")


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _admin(sql: str) -> None:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as connection:
        connection.execute(sa.text(sql))
    admin.dispose()


@pytest.fixture(scope="session")
def migrated_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Each backend's database, migrated once per test session with the real Alembic tree.

    PostgreSQL: a database of this session's own (per xdist worker and process), dropped at the end.
    """
    urls: dict[str, str] = {}
    if "sqlite" in BACKENDS:
        urls["sqlite"] = f"sqlite:///{tmp_path_factory.mktemp('store') / 'grantflow.db'}"
    pg_name = f"grantflow_test_{_worker()}_{os.getpid()}"
    if "postgresql" in BACKENDS:
        _admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        _admin(f'CREATE DATABASE "{pg_name}"')
        urls["postgresql"] = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{pg_name}"
    for url in urls.values():
        upgrade(url)
    yield urls
    for url in urls.values():
        engine_for(url).dispose()
    if "postgresql" in BACKENDS:
        _admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


@dataclass
class Store:
    backend: str
    url: str
    home: Path

    @property
    def engine(self) -> sa.Engine:
        return engine_for(self.url)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, migrated_urls: dict[str, str], tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """An empty, migrated store that the application's settings point at."""
    backend = request.param
    url = migrated_urls[backend]
    monkeypatch.setenv("GRANTFLOW_DATABASE_URL", url)
    monkeypatch.setenv("GRANTFLOW_HOME", str(tmp_path / "var"))
    settings_module.get_settings.cache_clear()
    empty_store(engine_for(url))
    yield Store(backend, url, tmp_path / "var")
    settings_module.get_settings.cache_clear()


@pytest.fixture
def postgres_store(store: Store) -> Store:
    if store.backend != "postgresql":
        pytest.skip("row locks and SKIP LOCKED: PostgreSQL only (SQLite serialises writers instead)")
    return store


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One temporary Prefect server (its own SQLite) for the whole test session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield



@pytest.fixture
def examples_loaded(store: Store) -> Store:
    """Both seeds' dossiers loaded through the real loader (CASQ 2018 exécutoire on 12/12/2018)."""
    load_examples()
    return store


@pytest.fixture
def smtp_settings(smtp_server, monkeypatch):
    """The real SMTP test server, configured as the application's mail server."""
    monkeypatch.setenv("GRANTFLOW_SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("GRANTFLOW_SMTP_PORT", str(smtp_server.port))
    settings_module.get_settings.cache_clear()
    return smtp_server
