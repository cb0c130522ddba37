"""Engines and the unit of work: one transaction per business action, committed once."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from core.settings import get_settings


def _on_sqlite_connect(dbapi_connection, _record) -> None:
    # Foreign keys are off by default in SQLite; WAL lets readers work during a sweep;
    # the busy timeout makes a second writer wait instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    # pysqlite's own transaction handling would defer BEGIN past our first SELECT:
    # take control so that `BEGIN IMMEDIATE` below really takes the write lock.
    dbapi_connection.isolation_level = None


def _on_sqlite_begin(connection) -> None:
    # A claim (SELECT then UPDATE) must hold the write lock from its first statement.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


@lru_cache(maxsize=8)
def engine_for(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _on_sqlite_connect)
        sa.event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def get_engine() -> sa.Engine:
    return engine_for(get_settings().resolved_database_url)


def is_postgresql_url(url: str) -> bool:
    return url.startswith("postgresql")


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


@contextlib.contextmanager
def unit_of_work() -> Iterator[Session]:
    """A session whose changes (state and journal together) commit at the end, or not at all."""
    session = sessionmaker(get_engine(), expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
