"""Helpers shared by tests: load the seeds' dossiers, record facts, read the outbox."""
from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import sqlalchemy as sa

from core.settings import get_settings
from db.session import unit_of_work

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
INNOSPRINT = "CASQ-2018-INNOSPRINT"
# Seed 003 (examples/val-fougere-fonctionnement-2023.yaml): one act, three grants.
VAL_FOUGERE = ("VALFOUGERE-2023-LUDOTHEQUE", "VALFOUGERE-2023-COMITE-DES-FETES", "VALFOUGERE-2023-TENNIS-DE-TABLE")


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
    from services.events import apply_event
    from services.grants import get_grant

    with unit_of_work() as session:
        apply_event(session, get_grant(session, reference, for_update=True), fact, get_settings(), actor="test")


def sign_both(reference: str = INNOSPRINT, association_on: dt.date = dt.date(2018, 12, 20),
              authority_on: dt.date = dt.date(2019, 1, 7)) -> None:
    from services.commands import Signature

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
