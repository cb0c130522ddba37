"""PostgreSQL restarted in the middle of a sweep or of a mail run (issue 7).

On a throwaway PostgreSQL cluster of its own (initdb into a temporary folder, another
port), never the shared server other tests use: the restart is `pg_ctl restart -m
immediate`, a crash for every open connection, with crash recovery on the way up.
Skipped, saying why, where such a cluster cannot be made (no PostgreSQL binaries, no
`postgres` user to run them as root...).
"""
from __future__ import annotations

import datetime as dt
import glob
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from core import clock
from core.settings import get_settings
from db.migrate import upgrade
from db.session import engine_for, unit_of_work
from gateways.wiring import mail_gateway
from grantflow.synthetic import generate
from services import journal, mailing, sweep
from tests.smtp_server import free_port
from tests.support import AtMessage, scalar

DAY = dt.date(2019, 2, 1)
GRANTS = 150


def _bindir() -> Path | None:
    found = (subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
             if shutil.which("pg_config") else None)
    candidates = ([found.stdout.strip()] if found and found.returncode == 0 else []) \
        + sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary folder, on a free port, trust authentication."""

    def __init__(self) -> None:
        bindir = _bindir()
        if bindir is None:
            pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
        self.bindir = bindir
        self.port = free_port()
        self.as_user: list[str] = []
        self.folder = Path(tempfile.mkdtemp(prefix="grantflow-pg-"))
        if os.geteuid() == 0:  # initdb refuses to run as root: run the cluster as `postgres`
            if not shutil.which("runuser"):
                pytest.skip("running as root without runuser: cannot start a PostgreSQL cluster as postgres")
            try:
                shutil.chown(self.folder, "postgres")
            except (LookupError, PermissionError) as error:
                pytest.skip(f"running as root and no usable `postgres` user for a throwaway cluster: {error}")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.data = self.folder / "data"
        self.restarts = 0
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale",
                  "--no-sync", skip_on_failure="initdb failed")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w", "-t", "120",
                  "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''", "start",
                  skip_on_failure="the throwaway cluster did not start")

    def _run(self, program: str, *args: str, skip_on_failure: str | None = None) -> None:
        done = subprocess.run([*self.as_user, str(self.bindir / program), *args], capture_output=True, text=True,
                              timeout=180, check=False)
        if done.returncode != 0:
            message = f"{program} {' '.join(args)}: {done.stdout}{done.stderr}"
            if skip_on_failure:
                self.remove()
                pytest.skip(f"{skip_on_failure}: {message}")
            raise RuntimeError(message)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def database(self, name: str) -> str:
        """A new, migrated database on this cluster."""
        admin = sa.create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = self.url(name)
        upgrade(url)
        return url

    def restart(self) -> None:
        """Crash every connection (immediate shutdown), then start again after recovery."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-m", "immediate",
                  "-w", "-t", "120", "restart")
        self.restarts += 1

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run([*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                            "-w", "stop"], capture_output=True, timeout=120, check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster() -> Iterator[ThrowawayPostgres]:
    server = ThrowawayPostgres()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def use(cluster, monkeypatch, tmp_path) -> Iterator[Callable[[str], None]]:
    """Point the application at one of the cluster's databases."""
    urls: list[str] = []

    def point(url: str) -> None:
        monkeypatch.setenv("GRANTFLOW_DATABASE_URL", url)
        monkeypatch.setenv("GRANTFLOW_HOME", str(tmp_path / "var"))
        get_settings.cache_clear()
        urls.append(url)

    yield point
    get_settings.cache_clear()
    for url in urls:
        engine_for(url).dispose()


def portfolio(cluster: ThrowawayPostgres, use: Callable[[str], None], name: str) -> str:
    url = cluster.database(name)
    use(url)
    with unit_of_work() as session:
        generate(session, GRANTS, seed=3)
    return url


def run_sweep() -> sweep.SweepResult:
    with clock.frozen(DAY), unit_of_work() as session:
        return sweep.sweep(session, DAY, get_settings())


def state() -> dict[str, object]:
    with unit_of_work() as session:
        def rows(sql: str) -> list[tuple]:
            return [tuple(r) for r in session.execute(sa.text(sql))]

        return {
            "stages": rows("SELECT id, stage FROM grants ORDER BY id"),
            "obligations": rows("SELECT id, status FROM obligations ORDER BY id"),
            "reminders": rows("SELECT obligation_id, level, status FROM messages ORDER BY obligation_id, level"),
            "events": rows("SELECT grant_id, seq, kind FROM events ORDER BY grant_id, seq"),
            "sweeps": rows("SELECT business_date FROM sweep_runs"),
        }


def restart_before(cluster: ThrowawayPostgres, url: str, fragment: str, occurrence: int = 1) -> None:
    """Restart the cluster just before the `occurrence`-th statement containing `fragment`."""
    seen = []

    def maybe_restart(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if fragment in statement:
            seen.append(statement)
            if len(seen) == occurrence:
                cluster.restart()

    sa.event.listen(engine_for(url), "before_cursor_execute", maybe_restart)


def test_a_restart_mid_sweep_fails_the_run_and_the_next_run_completes_it(cluster, use):
    # The same portfolio swept without incident, for reference.
    portfolio(cluster, use, "twin")
    expected_result = run_sweep().as_dict()
    expected = state()

    url = portfolio(cluster, use, "restarted")
    before = state()
    # Grants moved and obligations marked overdue in this transaction already; the
    # server goes down as their journal events are about to be written.
    restart_before(cluster, url, "INSERT INTO events")
    with pytest.raises(sa.exc.OperationalError):
        run_sweep()
    assert cluster.restarts == 1
    assert state() == before  # rolled back whole: no move, no mark, no event, no reminder

    assert run_sweep().as_dict() == expected_result
    assert state() == expected  # nothing lost, nothing twice
    with unit_of_work() as session:
        assert journal.verify(session) == []
    again = run_sweep()
    assert (again.transitions_total, again.overdue, sum(again.reminders.values())) == (0, 0, 0)


def send_all(gateway=None) -> mailing.SendResult:
    settings = get_settings()
    with clock.frozen(DAY):
        return mailing.send_queued(unit_of_work, gateway or mail_gateway(settings), settings)


def test_a_restart_between_two_batches_of_a_mail_run_loses_and_repeats_nothing(cluster, use, smtp_settings):
    url = portfolio(cluster, use, "mail_between")
    run_sweep()
    queued = scalar("SELECT count(*) FROM messages")
    # Batches of 1, 2, 4...: the server goes down as the third batch is claimed.
    restart_before(cluster, url, "FOR UPDATE SKIP LOCKED", occurrence=3)
    with pytest.raises(sa.exc.OperationalError):
        send_all()
    assert cluster.restarts >= 1
    assert scalar("SELECT count(*) FROM messages WHERE status = 'sent'") == len(smtp_settings.messages) == 3
    rest = send_all()
    assert 3 + len(rest.sent) == queued and rest.waiting == 0
    ids = Counter(m["Message-ID"] for m in smtp_settings.messages)
    assert len(ids) == queued and set(ids.values()) == {1}


def test_a_restart_while_a_batch_is_sent_loses_nothing_and_repeats_only_that_batch(cluster, use, smtp_settings):
    """The documented price of committing once per batch: the messages of the batch in the
    air when the database goes away are sent again by the next run (same Message-ID)."""
    portfolio(cluster, use, "mail_during")
    run_sweep()
    queued = scalar("SELECT count(*) FROM messages")
    settings = get_settings()
    # Batches of 1, 2, 4, 8: the restart comes with the 10th message, in the fourth batch
    # (messages 8 to 15), whose commit then fails.
    with pytest.raises(sa.exc.OperationalError):
        send_all(AtMessage(mail_gateway(settings), lambda n: n == 10 and cluster.restart()))
    assert scalar("SELECT count(*) FROM messages WHERE status = 'sent'") == 7
    assert len(smtp_settings.messages) == 15
    rest = send_all()
    assert 7 + len(rest.sent) == queued and rest.waiting == 0
    ids = Counter(m["Message-ID"] for m in smtp_settings.messages)
    assert len(ids) == queued  # nothing lost
    assert sorted(Counter(ids.values()).items()) == [(1, queued - 8), (2, 8)]  # that batch, once more
