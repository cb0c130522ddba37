"""Helpers shared by tests (a test module never imports another): load the seeds' dossiers,
record facts, run the command line, read payments and the journal, start a whole stack."""
from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from core.settings import get_settings
from db.session import engine_for, unit_of_work

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
INNOSPRINT = "CASQ-2018-INNOSPRINT"
# Seed 003 (examples/val-fougere-fonctionnement-2023.yaml): one act, three grants.
VAL_FOUGERE = ("VALFOUGERE-2023-LUDOTHEQUE", "VALFOUGERE-2023-COMITE-DES-FETES", "VALFOUGERE-2023-TENNIS-DE-TABLE")
PAYDAY = dt.date(2019, 5, 31)  # seed 002, art. 4.1: "au plus tard en Mai 2019"


def empty_store(engine: sa.Engine) -> None:
    from db.models import Base

    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(sa.text(f"DELETE FROM {table}"))


def load_examples() -> None:
    from services.dossier import load_files

    load_files(sorted(EXAMPLES.glob("*.yaml")), get_settings(), unit_of_work)


def record(reference: str, fact: object) -> None:
    """Apply one fact through the same action the flows and the loader use."""
    from services.fact_handlers import apply_fact
    from services.grants import get_grant

    with unit_of_work() as session:
        apply_fact(session, get_grant(session, reference, for_update=True), fact, get_settings(), actor="test")


def sign_both(reference: str = INNOSPRINT, association_on: dt.date = dt.date(2018, 12, 20),
              authority_on: dt.date = dt.date(2019, 1, 7)) -> None:
    from services.facts import Signature

    record(reference, Signature(party="association", on=association_on))
    record(reference, Signature(party="authority", on=authority_on))


def scalar(sql: str, **params: object) -> object:
    with unit_of_work() as session:
        return session.execute(sa.text(sql), params).scalar()


class AtMessage:
    """The real mail gateway, with `before(n)` called as message n (from 1) goes out: a test
    stops the SMTP server, restarts the database or fails the process at a precise moment."""

    def __init__(self, gateway, before) -> None:
        self.gateway, self.before, self.count = gateway, before, 0

    def __enter__(self):
        self.gateway.__enter__()
        return self

    def __exit__(self, *exc):
        return self.gateway.__exit__(*exc)

    def send(self, mail) -> bytes:
        self.count += 1
        self.before(self.count)
        return self.gateway.send(mail)


def latest_artifact(key: str) -> dict:
    """The latest Prefect artifact with this key, as the API returns it.

    Prefect 3.8.8's client sends a null limit and sort, which the server refuses with a
    422: the request complete, as the UI sends it.
    """
    import asyncio

    from prefect.client.orchestration import get_client

    async def read():
        async with get_client() as client:
            response = await client._client.post("/artifacts/latest/filter", json={
                "artifacts": {"key": {"any_": [key]}}, "sort": "CREATED_DESC", "limit": 1, "offset": 0})
            response.raise_for_status()
            return response.json()

    [artifact] = asyncio.run(read())
    return artifact


def at_once(*jobs):
    """Run the jobs in threads released together; return their results in order."""
    barrier = threading.Barrier(len(jobs))
    results: list[object] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(i, job):
        try:
            barrier.wait()
            results[i] = job()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    return results


class Played:
    """The lines `grantflow simulate` printed over a year: what happened on a day, and the mails."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def on(self, day: str, *words: str) -> list[str]:
        return [line for line in self.lines if line.startswith(day) and all(w in line for w in words)]

    def mails(self) -> list[tuple[str, ...]]:
        """(day, recipients, subject) of every mail, in order."""
        return [(line[:10], *line.split("courriel à ", 1)[1].split(" : ", 1))
                for line in self.lines if "courriel à " in line]


def play_year(seed: Path, facts: str, tmp_path: Path, capsys, *, authority: str, published_on: dt.date,
              until: dt.date) -> Played:
    """Load one seed, simulate until `published_on`, publish the authority's open data (SCDL)
    that day, then simulate until `until`: the facts recorded on their dates."""
    from core import clock
    from grantflow.cli import main

    assert main(["load", str(seed)]) == 0
    path = tmp_path / "facts.yaml"
    path.write_text(facts, encoding="utf-8")
    capsys.readouterr()
    assert main(["simulate", "--until", published_on.isoformat(), "--events", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    with clock.frozen(published_on):
        assert main(["export", "scdl", "--authority", authority, "--output", str(tmp_path / "scdl.csv")]) == 0
    capsys.readouterr()
    assert main(["simulate", "--until", until.isoformat(), "--events", str(path)]) == 0
    return Played(lines + capsys.readouterr().out.splitlines())


# -- the command line -------------------------------------------------------------------

def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`grantflow ARGV` in this process: its exit code, and what it printed (only it)."""
    from grantflow.cli import main

    capsys.readouterr()  # forget what earlier steps printed
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def show(capsys: pytest.CaptureFixture[str], reference: str) -> dict[str, Any]:
    status, out, err = run(capsys, "show", reference, "--json")
    assert status == 0, err
    return json.loads(out)


def snapshot(engine: sa.Engine) -> dict[str, Any]:
    """Row count of every table of the store, and the journal itself."""
    from db.models import Base

    with engine.connect() as connection:
        counts = {
            table.name: connection.scalar(sa.select(sa.func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }
        events = [tuple(row) for row in connection.execute(sa.text(
            "SELECT grant_id, seq, kind, actor, hash, prev_hash FROM events ORDER BY grant_id, seq"))]
        grants = [tuple(row) for row in connection.execute(sa.text(
            "SELECT reference, stage, starts_on, ends_on FROM grants ORDER BY reference"))]
    return {"counts": counts, "events": events, "grants": grants}


def write(path: Path, dossier: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dossier, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


# -- payments and the journal -----------------------------------------------------------

def treasury():
    """The simulated treasury the settings name, with its own count of what it was sent."""
    from gateways.treasury_simulated import SimulatedTreasury

    return SimulatedTreasury(get_settings().treasury_path)


def instalments(reference: str = INNOSPRINT) -> list[dict[str, Any]]:
    from db.models import Grant, Instalment

    with unit_of_work() as session:
        rows = session.scalars(sa.select(Instalment).join(Grant, Grant.id == Instalment.grant_id)
                               .where(Grant.reference == reference).order_by(Instalment.number))
        return [{"number": i.number, "status": i.status, "key": i.idempotency_key, "attempts": i.attempts,
                 "ordered_at": i.ordered_at, "paid_on": i.paid_on, "reason": i.reason, "batch_id": i.batch_id,
                 "amount": i.amount} for i in rows]


def key(number: int = 1, reference: str = INNOSPRINT) -> str:
    return instalments(reference)[number - 1]["key"]


def journal_kinds(reference: str = INNOSPRINT) -> list[str]:
    with unit_of_work() as session:
        return list(session.scalars(sa.text(
            "SELECT e.kind FROM events e JOIN grants g ON g.id = e.grant_id WHERE g.reference = :r ORDER BY e.seq"),
            {"r": reference}))


def grant_lock_held(reference: str) -> bool:
    """Whether another transaction holds the lock the payment runs take on this grant,
    asked without waiting: the grant's row (PostgreSQL), the file's write lock (SQLite)."""
    url = get_settings().resolved_database_url
    if url.startswith("sqlite"):
        probe = sqlite3.connect(sa.engine.make_url(url).database or "", timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return True
        finally:
            probe.close()  # rolls back what it took
        return False
    with engine_for(url).connect() as connection:
        try:
            connection.execute(sa.text("SELECT id FROM grants WHERE reference = :r FOR UPDATE NOWAIT"),
                               {"r": reference})
        except sa.exc.OperationalError:
            return True
        finally:
            connection.rollback()
    return False


# -- a whole stack (`grantflow up`) -----------------------------------------------------

STACK_START_TIMEOUT = 120  # a temporary server takes 6-13 s; generous for a loaded CI machine


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def wait_for(condition, what: str, timeout: float, process: subprocess.Popen, log: Path) -> None:
    """Until `condition()`; fails with the stack's log if its process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"grantflow up exited ({process.returncode}) before {what}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not after {timeout} s:\n{log.read_text()}")
        time.sleep(0.25)


def stack_environment(home: Path) -> dict[str, str]:
    """A stack of its own: no PREFECT_ or GRANTFLOW_ variable of the test session leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "GRANTFLOW_"))}
    env.update({
        "GRANTFLOW_HOME": str(home),  # the SQLite store, the outbox, and PREFECT_HOME = home/prefect
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",  # a new run is picked up within 2 s, not 10
    })
    return env
