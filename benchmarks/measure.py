"""One measurement in a fresh process (run.py starts it): prints one JSON line.

A fresh process per measurement keeps the memory figure honest: peak resident memory
(Linux VmHWM, reset through /proc/self/clear_refs just before the measured work, minus
the resident size at that moment) of a process that has done nothing else but import
the project and open its database connection. It counts everything the process
allocates, psycopg's and libpq's result buffers included (tracemalloc would see only
Python objects). Elapsed time is time.perf_counter() around the measured work; SQL
statements are counted by a before_cursor_execute listener on the engine.

    python benchmarks/measure.py sweep    URL DAY [WORKERS]  the application's sweep (services.sweep.sweep_day)
    python benchmarks/measure.py floor    URL DAY          the full one-statement floor (benchmarks/floor.py)
    python benchmarks/measure.py bounded  URL DAY          the bounded one-statement floor of a steady-state day
    python benchmarks/measure.py writes   URL DAY WORKERS BOUNDED   the writes floor, WORKERS connections at once
    python benchmarks/measure.py mail     URL PORT COUNT BATCH DAY   services.mailing.send_queued, SmtpGateway
    python benchmarks/measure.py smtplib  URL PORT COUNT DAY         the same messages, raw smtplib, one connection
"""
from __future__ import annotations

import datetime as dt
import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


class Memory:
    """Peak resident memory added by the measured block, in MiB."""

    def __enter__(self) -> Memory:
        self.method = "VmHWM reset via /proc/self/clear_refs"
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            self.method = "ru_maxrss of a fresh process"
        self.before_kb = _status_kb("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return self

    def __exit__(self, *exc: object) -> None:
        peak_kb = _status_kb("VmHWM") if self.method.startswith("VmHWM") else None
        if peak_kb is None:
            peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.peak_mib = round(max(0, peak_kb - self.before_kb) / 1024, 1)
        self.process_peak_mib = round(peak_kb / 1024, 1)


def _engine(url: str):
    import sqlalchemy as sa

    os.environ["GRANTFLOW_DATABASE_URL"] = url
    from db.session import get_engine

    engine = get_engine()
    statements = [0]
    timings: list[tuple[float, str]] = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        statements[0] += 1
        conn.info["started"] = time.perf_counter()

    @sa.event.listens_for(engine, "after_cursor_execute")
    def timed(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        timings.append((time.perf_counter() - conn.info.pop("started", time.perf_counter()),
                        " ".join(statement.split())[:70]))

    engine.info_timings = timings  # type: ignore[attr-defined]

    with engine.connect() as connection:  # warm the pool: the connection is not measured
        connection.execute(sa.text("SELECT 1"))
    return engine, statements


def _warm(engine) -> None:  # noqa: ANN001
    """Every measure starts the same: the tables read once, outside the measure."""
    import sqlalchemy as sa

    with engine.connect() as connection:
        for table in ("grants", "acts", "signatures", "obligations", "events", "messages"):
            connection.execute(sa.text(f"SELECT count(*) FROM {table}"))


def sweep(url: str, day: str, workers: str = "2", floor: str | None = None) -> dict[str, object]:
    from sqlalchemy.orm import Session

    from core import clock
    from core.settings import get_settings
    from db.session import unit_of_work
    from services import sweep as sweeps

    engine, statements = _engine(url)
    business_date = dt.date.fromisoformat(day)
    if floor:
        sys.path.insert(0, str(Path(__file__).parent))
        from floor import floor_sweep

    _warm(engine)
    statements[0] = 0
    with clock.frozen(business_date), Memory() as memory:
        start = time.perf_counter()
        with Session(engine) as session:
            if floor:
                summary = floor_sweep(session.connection(), business_date, clock.now(), "daily-sweep",
                                      bounded=floor == "bounded")
                session.commit()
            else:
                result = sweeps.sweep_day(unit_of_work, business_date, get_settings(), workers=int(workers))
                summary = result.as_dict() | {"parts": result.parts}
        seconds = time.perf_counter() - start
    slowest = sorted(engine.info_timings[-statements[0]:], reverse=True)[:5]  # type: ignore[attr-defined]
    return {"seconds": round(seconds, 3), "statements": statements[0], "peak_mib": memory.peak_mib,
            "process_peak_mib": memory.process_peak_mib, "memory_method": memory.method, "summary": summary,
            "slowest_statements": [[round(t, 3), text] for t, text in slowest]}


def writes(url: str, day: str, workers: str = "1", bounded: str = "0") -> dict[str, object]:
    """The writes floor (benchmarks/floor.py): grant-id ranges, one per worker, each in its
    own transaction on its own connection, all at once."""
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy.orm import Session

    from core import clock
    from services import sweep as sweeps
    from services.sweep_steps import GrantRange
    sys.path.insert(0, str(Path(__file__).parent))
    from floor import writes_floor

    engine, statements = _engine(url)
    business_date = dt.date.fromisoformat(day)
    with Session(engine) as session:  # the same split as the sweep's parts
        ranges = sweeps.grant_ranges(session, int(workers))
    _warm(engine)
    statements[0] = 0
    at = clock.now()

    def part(grants: GrantRange) -> dict[str, int]:
        with engine.begin() as connection:
            return writes_floor(connection, business_date, at, "daily-sweep", grants.first, grants.last,
                                bounded=bounded == "1")

    with Memory() as memory:
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(ranges)) as pool:
            counts = list(pool.map(part, ranges))
        seconds = time.perf_counter() - start
    summary = {key: sum(c[key] for c in counts) for key in counts[0]}
    return {"seconds": round(seconds, 3), "statements": statements[0], "peak_mib": memory.peak_mib,
            "parts": len(ranges), "summary": summary}


def mail(url: str, port: str, count: str, batch: str, day: str = "2019-07-01") -> dict[str, object]:
    import sqlalchemy as sa

    from core import clock
    from core.settings import get_settings
    from db.session import unit_of_work
    from gateways.smtp import SmtpGateway
    from services import mailing

    os.environ["GRANTFLOW_SMTP_HOST"] = "127.0.0.1"
    os.environ["GRANTFLOW_SMTP_PORT"] = port
    engine, statements = _engine(url)
    settings = get_settings()
    gateway = SmtpGateway(host="127.0.0.1", port=int(port), sender=settings.mail_from)
    statements[0] = 0
    with clock.frozen(dt.date.fromisoformat(day)), Memory() as memory:
        start = time.perf_counter()
        result = mailing.send_queued(unit_of_work, gateway, settings, limit=int(count), batch=int(batch))
        seconds = time.perf_counter() - start
    with engine.connect() as connection:
        sent = connection.execute(sa.text("SELECT count(*) FROM messages WHERE status = 'sent'")).scalar_one()
    return {"seconds": round(seconds, 3), "messages": len(result.sent), "recorded_sent": sent,
            "per_second": round(len(result.sent) / seconds, 1), "statements": statements[0],
            "peak_mib": memory.peak_mib, "error": result.error}


def raw_smtplib(url: str, port: str, count: str, day: str = "2019-07-01") -> dict[str, object]:
    """The same first COUNT queued messages, composed beforehand (not timed), then each one
    built by gateways.mail.build_mime and sent by smtplib on one connection (timed)."""
    import smtplib

    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from core import clock
    from core.settings import get_settings
    from db.models import Message
    from gateways.mail import build_mime
    from services import mailing

    engine, _statements = _engine(url)
    settings = get_settings()
    with clock.frozen(dt.date.fromisoformat(day)), Session(engine) as session:
        messages = session.scalars(sa.select(Message).where(Message.status == "queued")
                                   .order_by(Message.id).limit(int(count))).all()
        mails = [mailing.compose(session, message, settings) for message in messages]
        with Memory() as memory:
            start = time.perf_counter()
            client = smtplib.SMTP("127.0.0.1", int(port), timeout=30)
            for item in mails:
                client.send_message(build_mime(item, date=clock.now()), from_addr=settings.mail_from,
                                    to_addrs=list(item.to + item.cc))
            client.quit()
            seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 3), "messages": len(mails), "per_second": round(len(mails) / seconds, 1),
            "statements": 0, "peak_mib": memory.peak_mib}


def main(argv: list[str]) -> None:
    what, *args = argv
    if what == "sweep":
        out = sweep(*args)
    elif what in ("floor", "bounded"):
        out = sweep(*args, floor=what)
    elif what == "writes":
        out = writes(*args)
    elif what == "mail":
        out = mail(*args)
    elif what == "smtplib":
        out = raw_smtplib(*args)
    else:
        raise SystemExit(f"unknown measurement {what!r}")
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
