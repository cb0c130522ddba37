"""Benchmarks of issue 7: the daily sweep, the mail run and Prefect's overhead at scale.

    python benchmarks/run.py --sizes 1000,10000,100000

Against the local PostgreSQL (GRANTFLOW_BENCH_PG, default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres: a role allowed to create
databases). Every database it uses is created here (migrated with db.migrate.upgrade)
and dropped at the end, even after a failure. For each size N:

1. N synthetic grants (grantflow.synthetic, seed 0: five authorities, grants at every
   stage, ten obligations and the start of a journal each), then VACUUM ANALYZE: the
   template. Two copies of it (CREATE DATABASE ... TEMPLATE): one for the application,
   one for the floor.
2. The catch-up sweep of --day (the first sweep over that portfolio: every obligation
   already past due is marked, journalled and reminded; split in parts run --workers at a
   time), then --steady-days days one after the other (steady state, median kept), each
   measured in a fresh process (benchmarks/measure.py): elapsed time, SQL statements,
   peak resident memory added by the sweep.
3. The floors, beside it (benchmarks/floor.py), same measurements: for the catch-up the
   full floor (the same algorithm as one hand-written statement); for the steady-state
   days the bounded floor (the best hand-written statement for such a day: every read
   bounded by the day), and the full floor once on a copy, for the first of them. And the
   writes floor (the same rows written, nothing else) for the catch-up, on --workers
   connections, and for the first steady-state day, each on a copy. After
   each day the application's store and the floor's are compared table by table (stages,
   obligations, reminders, events with their hashes): "same" means equal.

Mail: --mail-messages queued reminders (from a 1,000-grant portfolio) sent to an aiosmtpd
server running in its own process, by services.mailing.send_queued through the SMTP
gateway (claims in batches, and with batch=1: one transaction per message), against raw
smtplib sending the same messages built by gateways.mail.build_mime on one connection.
Each is run --repeat times on a fresh copy; the median is kept.

Prefect: the daily-sweep flow under a temporary Prefect server (prefect_test_harness) at
two sizes (--prefect-sizes), for the day after the catch-up (its mail already sent): the
flow's duration and how many task runs and flow runs it made.

Prints a table and writes it all to benchmarks/results/latest.json (--output).

Over 300 lines: one script, the measures and their report, outside the product (no layer imports it).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import sqlalchemy as sa  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

# Per table: the columns that must be equal between the application's store and the floor's.
FINGERPRINTS = {
    "grants": "id || ':' || stage",
    "obligations": "id || ':' || status || ':' || coalesce(done_on::text, '')",
    "messages": "coalesce(obligation_id, 0) || ':' || coalesce(level, '') || ':' || kind || ':' "
                "|| coalesce(level_rank, -1) || ':' || queued_on || ':' || copy_authority || ':' || status",
    "events": "grant_id || ':' || seq || ':' || kind || ':' || payload::text || ':' || prev_hash || ':' || hash",
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Databases:
    """Databases of this run on the local server, all dropped by drop_all()."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.prefix = f"gf_bench_{os.getpid()}_"
        self.created: list[str] = []
        self.admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)

    def url(self, name: str) -> str:
        return self.admin_url.rsplit("/", 1)[0] + f"/{self.prefix}{name}"

    def create(self, name: str, template: str | None = None) -> str:
        full = self.prefix + name
        with self.admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{full}" WITH (FORCE)'))
            clause = f' TEMPLATE "{self.prefix}{template}"' if template else ""
            if template and self.version_num >= 150000:
                clause += " STRATEGY = FILE_COPY"  # not WAL_LOG: a copy is not a burst of WAL before a measure
            connection.execute(sa.text(f'CREATE DATABASE "{full}"{clause}'))
        self.created.append(full)
        return self.url(name)

    @property
    def version_num(self) -> int:
        with self.admin.connect() as connection:
            return int(connection.execute(sa.text("SHOW server_version_num")).scalar_one())

    def checkpoint(self) -> None:
        """Each measure starts just after a checkpoint: none pays for another's dirty pages."""
        with self.admin.connect() as connection:
            connection.execute(sa.text("CHECKPOINT"))

    def drop(self, name: str) -> None:
        full = self.prefix + name
        with self.admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{full}" WITH (FORCE)'))
        if full in self.created:
            self.created.remove(full)

    def drop_all(self) -> None:
        for full in list(self.created):
            self.drop(full.removeprefix(self.prefix))

    def server_version(self) -> str:
        with self.admin.connect() as connection:
            return connection.execute(sa.text("SHOW server_version")).scalar_one()

    def settings(self) -> dict[str, str]:
        names = ("shared_buffers", "work_mem", "max_wal_size", "synchronous_commit", "jit")
        with self.admin.connect() as connection:
            return {n: connection.execute(sa.text(f"SHOW {n}")).scalar_one() for n in names}


def child(*args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(HERE / "measure.py"), *args], capture_output=True, text=True,
                          timeout=3600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"measure.py {' '.join(args)} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def populate(url: str, grants: int, *, seed: int = 0) -> float:
    from sqlalchemy.orm import Session

    from db.migrate import upgrade
    from grantflow.synthetic import generate

    upgrade(url)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    start = time.perf_counter()
    with Session(engine) as session:
        generate(session, grants, seed=seed)
        session.commit()
    seconds = time.perf_counter() - start
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text("VACUUM ANALYZE"))
    engine.dispose()
    return seconds


def vacuum(url: str) -> None:
    """What autovacuum does within minutes of a catch-up day (375,000 of 1,000,000
    obligations rewritten: far past its 20 % threshold): statistics, and the dead index
    entries of the old row versions gone (bitmap scans otherwise visit every one of them)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text("VACUUM ANALYZE"))
    engine.dispose()


def fingerprints(url: str) -> dict[str, list[Any]]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        # Order-independent: the count and the sum of a 64-bit hash of every row's text.
        out = {table: [str(v) for v in connection.execute(sa.text(
            f"SELECT count(*), sum(hashtextextended({expression}, 0)) FROM {table}")).one()]
               for table, expression in FINGERPRINTS.items()}
    engine.dispose()
    return out


def verify_journal(url: str) -> int:
    from sqlalchemy.orm import Session

    from services import journal

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with Session(engine) as session:
        breaks = len(journal.verify(session))
    engine.dispose()
    return breaks


def ratio(value: float, floor: float) -> float | None:
    return round(value / floor, 2) if floor else None


def bench_sweeps(dbs: Databases, sizes: list[int], day: dt.date, verify_up_to: int,
                 keep_templates: set[int], steady_days: int, workers: int) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        log(f"sweep: generating {n:,} grants")
        setup = populate(dbs.create(f"tpl_{n}"), n)
        row: dict[str, Any] = {"grants": n, "generate_seconds": round(setup, 1), "workers": workers}
        app_url, floor_url = dbs.create(f"app_{n}", f"tpl_{n}"), dbs.create(f"floor_{n}", f"tpl_{n}")

        def compare(phase: str, when: dt.date, floor_kind: str) -> dict[str, Any]:
            log(f"sweep: {n:,} grants, {phase} {when}: {floor_kind} floor")
            dbs.checkpoint()
            floor = child(floor_kind, floor_url, when.isoformat())
            log(f"sweep: {n:,} grants, {phase} {when}: application")
            dbs.checkpoint()
            app = child("sweep", app_url, when.isoformat(), str(workers))
            same = fingerprints(app_url) == fingerprints(floor_url)
            log(f"  app {app['seconds']} s ({app['summary'].get('parts', 1)} parts), "
                f"floor {floor['seconds']} s, same outcome: {same}")
            return {"day": when.isoformat(), "app": app, "floor": floor, "floor_kind": floor_kind,
                    "same_outcome": same, "time_ratio": ratio(app["seconds"], floor["seconds"])}

        # The catch-up against the full floor (the bounded one cannot catch up), and the
        # writes floor on a copy of the portfolio, on as many connections as the sweep's workers.
        row["catch_up"] = compare("catch_up", day, "floor")
        row["catch_up"]["writes_floor"] = writes_floor(dbs, f"tpl_{n}", day, workers, bounded=False)
        row["catch_up"]["writes_floor_ratio"] = ratio(row["catch_up"]["app"]["seconds"],
                                                      row["catch_up"]["writes_floor"]["seconds"])
        # Then both stores vacuumed and analysed, outside the measures, as autovacuum does
        # within minutes of such a day in production: the next day is planned on today's
        # statistics and reads no dead index entries.
        vacuum(app_url)
        vacuum(floor_url)
        # The steady state against the bounded floor; the full floor once beside it, on a copy.
        dbs.create(f"full_{n}", f"floor_{n}")
        dbs.checkpoint()
        full = child("floor", dbs.url(f"full_{n}"), (day + dt.timedelta(days=1)).isoformat())
        dbs.drop(f"full_{n}")
        first_writes = writes_floor(dbs, f"floor_{n}", day + dt.timedelta(days=1), 1, bounded=True)
        days = [compare("steady", day + dt.timedelta(days=k), "bounded") for k in range(1, steady_days + 1)]
        row["next_day"] = days[0] | {"full_floor": full, "full_floor_ratio": ratio(days[0]["app"]["seconds"],
                                                                                    full["seconds"]),
                                     "writes_floor": first_writes,
                                     "writes_floor_ratio": ratio(days[0]["app"]["seconds"], first_writes["seconds"])}
        app_median = statistics.median(d["app"]["seconds"] for d in days)
        floor_median = statistics.median(d["floor"]["seconds"] for d in days)
        row["steady_state"] = {
            "days": [d["day"] for d in days], "app_seconds": [d["app"]["seconds"] for d in days],
            "floor_seconds": [d["floor"]["seconds"] for d in days], "app_median": app_median,
            "bounded_floor_median": floor_median, "time_ratio": ratio(app_median, floor_median),
            "full_floor_next_day": full["seconds"], "same_outcome": all(d["same_outcome"] for d in days),
            "peak_mib": max(d["app"]["peak_mib"] for d in days),
            "statements": max(d["app"]["statements"] for d in days),
            "reminders": [sum(d["app"]["summary"]["reminders"].values()) for d in days]}
        if n <= verify_up_to:
            row["journal_breaks"] = verify_journal(app_url)
        dbs.drop(f"app_{n}")
        dbs.drop(f"floor_{n}")
        if n not in keep_templates:
            dbs.drop(f"tpl_{n}")
        rows.append(row)
    return rows


def writes_floor(dbs: Databases, source: str, day: dt.date, workers: int, *, bounded: bool) -> dict[str, Any]:
    """The writes floor of `day` on a copy of the database `source`, thrown away after."""
    url = dbs.create("writes", source)
    log(f"sweep: {day}: writes floor ({workers} connection{'s' if workers > 1 else ''})")
    dbs.checkpoint()
    try:
        return child("writes", url, day.isoformat(), str(workers), "1" if bounded else "0")
    finally:
        dbs.drop("writes")


class Sink:
    """benchmarks/smtp_sink.py in its own process."""

    def __init__(self) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.process = subprocess.Popen([sys.executable, str(HERE / "smtp_sink.py"), str(self.port)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "ready"

    def ask(self, command: str) -> dict[str, int]:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(30)


def bench_mail(dbs: Databases, day: dt.date, count: int, repeat: int, batch: int) -> dict[str, Any]:
    from sqlalchemy.orm import Session

    from core import clock
    from core.settings import Settings
    from services import sweep

    log("mail: preparing the queued reminders")
    url = dbs.create("mail_tpl")
    populate(url, 1000, seed=1)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with clock.frozen(day), Session(engine) as session:
        sweep.sweep(session, day, Settings())
        session.commit()
    with engine.connect() as connection:
        queued = connection.execute(sa.text("SELECT count(*) FROM messages WHERE status = 'queued'")).scalar_one()
    engine.dispose()
    if queued < count:
        raise SystemExit(f"only {queued} queued reminders, fewer than --mail-messages {count}")
    sink = Sink()
    runs: dict[str, list[dict[str, Any]]] = {"smtplib": [], f"batch_{batch}": [], "batch_1": []}
    try:
        for r in range(repeat):
            for mode in runs:
                copy = dbs.create("mail_run", "mail_tpl")
                sink.ask("reset")
                log(f"mail: {mode}, run {r + 1}/{repeat}")
                if mode == "smtplib":
                    out = child("smtplib", copy, str(sink.port), str(count), day.isoformat())
                else:
                    out = child("mail", copy, str(sink.port), str(count), mode.removeprefix("batch_"), day.isoformat())
                received = sink.ask("stats")
                out["received"] = received
                if received != {"messages": count, "distinct_ids": count}:
                    raise RuntimeError(f"mail {mode}: the server received {received}, expected {count} once each")
                runs[mode].append(out)
                dbs.drop("mail_run")
    finally:
        sink.close()
        dbs.drop("mail_tpl")
    result: dict[str, Any] = {"messages": count, "repeat": repeat, "runs": runs}
    for mode, outs in runs.items():
        result[mode] = {"per_second": statistics.median(o["per_second"] for o in outs),
                        "seconds": statistics.median(o["seconds"] for o in outs),
                        "statements": statistics.median(o["statements"] for o in outs),
                        "peak_mib": max(o["peak_mib"] for o in outs)}
    for mode in runs:
        result[mode]["time_ratio"] = ratio(result[mode]["seconds"], result["smtplib"]["seconds"])
    return result


def bench_prefect(dbs: Databases, sizes: list[int], day: dt.date, grant_runs: int) -> list[dict[str, Any]]:
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterParentTaskRunId,
    )
    from prefect.testing.utilities import prefect_test_harness
    from sqlalchemy.orm import Session

    from core import clock
    from core.settings import Settings, get_settings
    from services import sweep

    next_day = day + dt.timedelta(days=1)
    prepared = {}
    for n in sizes:
        log(f"prefect: preparing {n:,} grants (catch-up sweep of {day}, its mail marked sent)")
        url = dbs.create(f"prefect_{n}", f"tpl_{n}")
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with clock.frozen(day), Session(engine) as session:
            sweep.sweep(session, day, Settings())
            session.execute(sa.text("UPDATE messages SET status = 'sent'"))
            session.commit()
        engine.dispose()
        prepared[n] = url

    async def runs_of(flow_run_id) -> tuple[Counter[str], int]:
        async with get_client() as client:
            flow_ids, frontier = {flow_run_id}, [flow_run_id]
            tasks: Counter[str] = Counter()
            while frontier:
                found = []
                for offset in range(0, 100_000, 200):
                    page = await client.read_task_runs(
                        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=frontier)), limit=200, offset=offset)
                    found += page
                    if len(page) < 200:
                        break
                tasks.update(t.name.rsplit("-", 1)[0] for t in found)
                children = await client.read_flow_runs(flow_run_filter=FlowRunFilter(
                    parent_task_run_id=FlowRunFilterParentTaskRunId(any_=[t.id for t in found])), limit=200) \
                    if found else []
                frontier = [f.id for f in children if f.id not in flow_ids]
                flow_ids |= set(frontier)
            return tasks, len(flow_ids)

    rows = []
    smtp = Sink()
    try:
        os.environ["GRANTFLOW_SMTP_HOST"] = "127.0.0.1"
        os.environ["GRANTFLOW_SMTP_PORT"] = str(smtp.port)
        log("prefect: starting a temporary Prefect server")
        with prefect_test_harness(server_startup_timeout=180):
            from flows.sweep import daily_sweep

            for n, url in prepared.items():
                os.environ["GRANTFLOW_DATABASE_URL"] = url
                get_settings.cache_clear()
                log(f"prefect: daily-sweep flow, {n:,} grants, {next_day}")
                start = time.perf_counter()
                state = daily_sweep(business_date=next_day, max_grant_runs=grant_runs, return_state=True)
                seconds = time.perf_counter() - start
                tasks, flows = asyncio.run(runs_of(state.state_details.flow_run_id))
                from db.session import engine_for

                engine_for(url).dispose()
                rows.append({"grants": n, "day": next_day.isoformat(), "flow_seconds": round(seconds, 2),
                             "state": state.type.value, "task_runs": sum(tasks.values()),
                             "task_runs_by_task": dict(tasks), "flow_runs": flows,
                             "max_grant_runs": grant_runs, "result": state.result(raise_on_failure=False)})
    finally:
        smtp.close()
        for n in prepared:
            dbs.drop(f"prefect_{n}")
    return rows


def machine(dbs: Databases) -> dict[str, Any]:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    memory = ""
    try:
        kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")))
        memory = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": memory, "os": platform.platform(),
            "python": platform.python_version(), "postgresql": dbs.server_version(),
            "postgresql_settings": dbs.settings(), "load_average_at_start": list(os.getloadavg())}


def table(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [f"grantflow benchmarks, {results['started']} - {m['cpu']}, {m['cores']} cores, {m['memory']}, "
             f"PostgreSQL {m['postgresql']}, Python {m['python']}",
             f"load average at start {', '.join(f'{x:.1f}' for x in m['load_average_at_start'])}, "
             f"at end {', '.join(f'{x:.1f}' for x in results['load_average_at_end'])} "
             "(other work on the machine shares its cores)", ""]
    for phase, title in (("catch_up", "Daily sweep, catch-up: the first sweep over the portfolio, against the full floor"),
                         ("next_day", "Daily sweep, the next day (steady state), against the bounded floor")):
        rows = [r for r in results["sweep"] if phase in r]
        if not rows:
            continue
        lines += [f"{title} ({rows[0][phase]['day']})",
                  f"{'grants':>8} {'sweep s':>8} {'floor s':>8} {'ratio':>6} {'parts':>5} {'statements':>11} "
                  f"{'peak MiB':>11} {'moved':>6} {'overdue':>8} {'reminders':>9}  same"]
        for r in rows:
            p = r[phase]
            a, f = p["app"], p["floor"]
            lines.append(f"{r['grants']:>8,} {a['seconds']:>8.3f} {f['seconds']:>8.3f} {p['time_ratio']:>5.2f}x "
                         f"{a['summary'].get('parts', 1):>5} "
                         f"{a['statements']:>6} / {f['statements']:<2} {a['peak_mib']:>5.1f} / {f['peak_mib']:<4.1f} "
                         f"{a['summary']['transitions']:>6} {a['summary']['overdue']:>8,} "
                         f"{sum(a['summary']['reminders'].values()):>9,}  {'yes' if p['same_outcome'] else 'NO'}")
        for r in rows:
            w = r[phase].get("writes_floor")
            if w:
                lines.append(f"{'':>8} writes floor {w['seconds']:.3f} s on {w['parts']} connection"
                             f"{'s' if w['parts'] > 1 else ''} ({w['summary']['overdue']:,} marks, "
                             f"{w['summary']['events']:,} events, {w['summary']['reminders']:,} reminders): "
                             f"sweep {r[phase]['writes_floor_ratio']:.2f}x")
        lines.append("")
    rows = [r for r in results["sweep"] if "steady_state" in r]
    if rows:
        k = len(rows[0]["steady_state"]["days"])
        lines += [f"Daily sweep, steady state: median of {k} days ({rows[0]['steady_state']['days'][0]} to "
                  f"{rows[0]['steady_state']['days'][-1]})",
                  f"{'grants':>8} {'sweep s':>8} {'bounded floor s':>16} {'ratio':>6} {'full floor s (1st day)':>23} "
                  f"{'peak MiB':>9}  same"]
        for r in rows:
            st = r["steady_state"]
            lines.append(f"{r['grants']:>8,} {st['app_median']:>8.3f} {st['bounded_floor_median']:>16.3f} "
                         f"{st['time_ratio']:>5.2f}x {st['full_floor_next_day']:>23.3f} {st['peak_mib']:>9.1f}  "
                         f"{'yes' if st['same_outcome'] else 'NO'}")
        lines.append("")
    if results.get("mail"):
        mail = results["mail"]
        lines += [f"Mail run: {mail['messages']:,} queued reminders to aiosmtpd (own process), one SMTP connection, "
                  f"median of {mail['repeat']}",
                  f"{'':<46} {'msg/s':>7} {'s':>7} {'ratio':>6} {'SQL':>6} {'peak MiB':>9}"]
        labels = {"smtplib": "raw smtplib + build_mime (floor)"}
        for mode in mail["runs"]:
            label = labels.get(mode) or (f"send_queued, claims of up to {mode.removeprefix('batch_')} per transaction"
                                         if mode != "batch_1" else "send_queued, one transaction per message")
            r = mail[mode]
            lines.append(f"{label:<46} {r['per_second']:>7.0f} {r['seconds']:>7.2f} {r['time_ratio']:>5.2f}x "
                         f"{r['statements']:>6.0f} {r['peak_mib']:>9.1f}")
        lines.append("")
    if results.get("prefect"):
        lines += ["Prefect: the daily-sweep flow under a temporary server (prefect_test_harness)",
                  f"{'grants':>8} {'flow s':>7} {'task runs':>10} {'flow runs':>10}  state"]
        for r in results["prefect"]:
            lines.append(f"{r['grants']:>8,} {r['flow_seconds']:>7.2f} {r['task_runs']:>10} {r['flow_runs']:>10}  "
                         f"{r['state']}")
        lines.append("")
    lines.append("ratio: elapsed time over the floor's (full floor: the same algorithm in one statement; bounded "
                 "floor: the steady-state day with every read bounded by the day; writes floor: the same rows "
                 "written and nothing else, benchmarks/floor.py). parts: transactions of the sweep.")
    lines.append("peak MiB: resident memory added by the measured work in a "
                 "fresh process (VmHWM). same: both stores equal table by table, journal hashes included.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="numbers of grants, comma-separated")
    parser.add_argument("--day", default="2019-07-01", help="business date of the catch-up sweep")
    parser.add_argument("--mail-messages", type=int, default=2000)
    parser.add_argument("--mail-batch", type=int, default=None, help="default: services.mailing.MAIL_BATCH")
    parser.add_argument("--repeat", type=int, default=3, help="mail runs per mode (median kept)")
    parser.add_argument("--prefect-sizes", default="1000,10000",
                        help="two sizes for the Prefect run, among --sizes; empty to skip")
    parser.add_argument("--prefect-grant-runs", type=int, default=0,
                        help="max_grant_runs passed to the flow (per-grant evaluation/closure subflows)")
    parser.add_argument("--steady-days", type=int, default=7, help="steady-state days swept after the catch-up")
    parser.add_argument("--workers", type=int, default=2, help="parts of a large sweep run at once")
    parser.add_argument("--verify-up-to", type=int, default=10_000,
                        help="run journal.verify on the application's store up to this size")
    parser.add_argument("--admin-url", default=os.environ.get("GRANTFLOW_BENCH_PG", DEFAULT_ADMIN))
    parser.add_argument("--output", default=str(HERE / "results" / "latest.json"))
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: sweep,mail,prefect")
    args = parser.parse_args(argv)

    from core.settings import Settings
    from services import mailing, sweep_rules
    sys.path.insert(0, str(HERE))
    from floor import LADDER

    settings = Settings()
    ladder = sweep_rules.level_offsets(sweep_rules.policy_of(settings))
    if ladder != [(level, offset) for level, offset, _ in LADDER]:
        raise SystemExit(f"the floor is written for the default reminder ladder, not {ladder}")
    sizes = [int(s) for s in args.sizes.split(",") if s]
    prefect_sizes = [int(s) for s in args.prefect_sizes.split(",") if s and int(s) in sizes]
    skip = set(filter(None, args.skip.split(",")))
    day = dt.date.fromisoformat(args.day)
    dbs = Databases(args.admin_url)
    results: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(dbs),
                               "sizes": sizes, "day": args.day}
    try:
        results["sweep"] = [] if "sweep" in skip else bench_sweeps(
            dbs, sizes, day, args.verify_up_to, set(prefect_sizes) if "prefect" not in skip else set(),
            args.steady_days, args.workers)
        if "mail" not in skip:
            results["mail"] = bench_mail(dbs, day, args.mail_messages, args.repeat,
                                         args.mail_batch or mailing.MAIL_BATCH)
        if "prefect" not in skip and len(prefect_sizes) >= 1:
            for n in prefect_sizes:
                if "sweep" in skip:
                    populate(dbs.create(f"tpl_{n}"), n)
            results["prefect"] = bench_prefect(dbs, prefect_sizes, day, args.prefect_grant_runs)
    finally:
        dbs.drop_all()
    results["load_average_at_end"] = list(os.getloadavg())
    text = table(results)
    print(text)
    results["table"] = text.splitlines()
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"\n(written to {output})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
