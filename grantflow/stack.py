"""`grantflow up`: the embedded default in one command.

1. migrates the grants store (SQLite under GRANTFLOW_HOME, ./var by default, unless
   GRANTFLOW_DATABASE_URL says otherwise) and loads the example dossiers (idempotent);
2. starts a local Prefect server: its own SQLite database and settings under
   GRANTFLOW_HOME/prefect (PREFECT_HOME), analytics off, bound to 127.0.0.1 on port 4200
   (GRANTFLOW_PREFECT_PORT or --port), its log in GRANTFLOW_HOME/prefect/server.log;
3. once the API answers, serves every deployment of deployments/catalog.py with its
   schedule (`python -m deployments.serve`, output on this terminal);
4. prints where the UI and the outbox folder are, and waits.

Ctrl-C (SIGINT), SIGTERM or SIGHUP stops the serve process first (it pauses its
schedules through the API, and would hang if the server were gone), then the server,
and exits 0. Both children run in sessions of their own, so that Ctrl-C reaches only
this process, which stops them in that order. Everything is kept for the next start.

While it runs, GRANTFLOW_HOME/prefect/grantflow-up.json holds the API address and the
children's process ids.

This module imports little at the top (the standard library, the clock, the heartbeat
period, grantflow.processes and grantflow.prefect_api): ./grantflow-up enters here so that
the server starts before the heavy imports.

Just over 300 lines: the stack's sequence (store, server, serve, first sweep, stop) in
one place; its processes and the Prefect REST calls are in grantflow.processes and
grantflow.prefect_api.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

from core import clock
from deployments.crashed_runs import HEARTBEAT_SECONDS
from domain.calendar import format_date_fr
from grantflow import prefect_api
from grantflow.processes import Interrupted, StackError, port_in_use, stop_process, tail, wait_until

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
DEFAULT_PORT = 4200
SERVER_START_TIMEOUT = 180.0  # seconds; a first start creates the database (6-13 s measured)
SERVE_START_TIMEOUT = 120.0
FIRST_SWEEP_ATTEMPTS = 10


@dataclass
class StackConfig:
    home: Path  # GRANTFLOW_HOME, absolute
    prefect_home: Path  # PREFECT_HOME of the server and the serve process
    port: int = DEFAULT_PORT
    host: str = HOST
    load_examples: bool = True
    python: str = sys.executable
    root: Path = ROOT

    @classmethod
    def from_environment(cls, port: int | None = None, load_examples: bool = True,
                         environ: dict[str, str] | None = None) -> StackConfig:
        env = os.environ if environ is None else environ
        home = Path(env.get("GRANTFLOW_HOME") or "var").expanduser().resolve()
        if port is None:
            port = int(env.get("GRANTFLOW_PREFECT_PORT") or DEFAULT_PORT)
        return cls(home=home, prefect_home=home / "prefect", port=port, load_examples=load_examples)

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.ui_url}/api"

    @property
    def outbox(self) -> Path:
        return self.home / "outbox"

    @property
    def server_log(self) -> Path:
        return self.prefect_home / "server.log"

    @property
    def state_file(self) -> Path:
        return self.prefect_home / "grantflow-up.json"

    def environment(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of both children: one server, one API address, everything local."""
        env = dict(os.environ if base is None else base)
        database = f"sqlite+aiosqlite:///{self.prefect_home / 'prefect.db'}"
        env.update({
            "GRANTFLOW_HOME": str(self.home),
            "PREFECT_HOME": str(self.prefect_home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_API_HOST": self.host,
            "PREFECT_SERVER_API_PORT": str(self.port),
            "PREFECT_API_URL": self.api_url,
            # The UI asks its API here; it does not follow --port (EXAMPLES.md).
            "PREFECT_UI_API_URL": self.api_url,
            "PREFECT_UI_URL": self.ui_url,
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": database,
            "PREFECT_API_DATABASE_CONNECTION_URL": database,
            # Runs send heartbeats; the automation of deployments.crashed_runs marks a silent one Crashed.
            "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_SECONDS),
        })
        # A Prefect Cloud key or another profile must not redirect the local stack.
        for name in ("PREFECT_API_KEY", "PREFECT_PROFILE", "PREFECT_PROFILES_PATH"):
            env.pop(name, None)
        return env


# --- the pieces, usable one by one (tests) -------------------------------------------


def ensure_crashed_run_automation(config: StackConfig, say: Callable[[str], None]) -> None:
    """The server's automation for runs whose process died (created once; idempotent)."""
    done = subprocess.run([config.python, "-m", "deployments.crashed_runs"], cwd=config.root,
                          env=config.environment(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120, check=False)
    if done.returncode != 0:
        say("Automatisation des exécutions interrompues non créée (python -m deployments.crashed_runs à relancer) : "
            + (done.stderr.strip().splitlines() or ["?"])[-1])


def prepare_store(config: StackConfig, out: IO[str] = sys.stdout) -> None:
    """What `grantflow migrate` then `grantflow load examples/*.yaml` do, in this process."""
    from core.settings import get_settings
    from grantflow import store

    os.environ["GRANTFLOW_HOME"] = str(config.home)
    get_settings.cache_clear()
    if store.unless_unreachable(store.migrate) != 0:
        raise StackError("la base des subventions n'a pas pu être migrée")
    if config.load_examples:
        examples = sorted((config.root / "examples").glob("*.yaml"), key=str)
        if examples and store.unless_unreachable(lambda: store.load(examples)) != 0:
            print("Attention : les dossiers d'exemple n'ont pas été chargés (voir ci-dessus) ; "
                  "la pile démarre quand même.", file=out)
    config.outbox.mkdir(parents=True, exist_ok=True)


def start_server(config: StackConfig, log: IO[Any]) -> subprocess.Popen[bytes]:
    config.prefect_home.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [config.python, "-m", "prefect", "server", "start", "--host", config.host, "--port", str(config.port)],
        cwd=config.root, env=config.environment(), stdin=subprocess.DEVNULL, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True)


def start_serve(config: StackConfig, log: IO[Any] | None = None) -> subprocess.Popen[bytes]:
    """deployments/serve.py, from the repository root (entrypoints are relative to it)."""
    return subprocess.Popen(
        [config.python, "-m", "deployments.serve"], cwd=config.root, env=config.environment(),
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT if log is not None else None,
        start_new_session=True)


# --- the whole stack -----------------------------------------------------------------


@dataclass
class Stack:
    config: StackConfig
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    server: subprocess.Popen[bytes] | None = None
    serve: subprocess.Popen[bytes] | None = None
    stopping: bool = False
    state_written: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def request_stop(self, signum: int, _frame: FrameType | None = None) -> None:
        if not self.stopping:
            self.say(f"\n{signal.Signals(signum).name} reçu : arrêt de la pile (déploiements, puis serveur)…")
        self.stopping = True

    def start(self) -> None:
        from deployments.catalog import DEPLOYMENTS

        config = self.config
        if port_in_use(config.host, config.port):
            raise StackError(f"le port {config.port} est déjà utilisé (une autre pile `grantflow up` ?). "
                             f"Arrêtez-la, ou choisissez un autre port : GRANTFLOW_PREFECT_PORT=4300 ./grantflow-up")
        config.prefect_home.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with config.server_log.open("a", encoding="utf-8") as log:
            log.write(f"\n=== grantflow up {clock.now():%Y-%m-%d %H:%M:%S} port {config.port} ===\n")
            log.flush()
            self.server = start_server(config, log)
        self.say(f"Serveur Prefect en cours de démarrage sur {config.ui_url} (journal : {config.server_log})")
        # The server takes several seconds to start: prepare the store meanwhile.
        prepare_store(config, self.out)
        self.timings["store"] = time.monotonic() - started
        wait_until(lambda: prefect_api.api_healthy(config.api_url), "serveur Prefect", SERVER_START_TIMEOUT,
                   self.server, config.server_log, lambda: self.stopping)
        self.timings["server"] = time.monotonic() - started
        self.say(f"Serveur Prefect prêt en {self.timings['server']:.1f} s. Mise en service des déploiements…")
        ensure_crashed_run_automation(config, self.say)

        serve_started = time.monotonic()
        since = clock.now() - dt.timedelta(seconds=1)  # the API keeps milliseconds
        self.serve = start_serve(config)
        expected = {spec.name for spec in DEPLOYMENTS}
        wait_until(lambda: expected <= prefect_api.served_deployments(config.api_url, since), "mise en service des déploiements",
                   SERVE_START_TIMEOUT, self.serve, None, lambda: self.stopping)
        self.timings["serve"] = time.monotonic() - serve_started
        self._write_state()
        self._summary(DEPLOYMENTS)
        self._first_sweep()

    def _first_sweep(self) -> None:
        """Today's sweep at once (not at 07:00 tomorrow): the UI shows a completed sweep with
        its artifacts and the outbox fills. Once a day: a restart the same day runs nothing."""
        day = clock.today()
        body = {"idempotency_key": f"grantflow-up-{day.isoformat()}", "parameters": {}, "tags": ["démarrage"]}
        error: Exception | None = None
        # Just after start-up the server's SQLite may still be busy with the served
        # deployments and answer 503: a few tries, a second apart (seen on a fresh clone).
        for _attempt in range(FIRST_SWEEP_ATTEMPTS):
            try:
                prefect_api.create_run(self.config.api_url, "daily-sweep/daily-sweep", body)
                error = None
                break
            except (urllib.error.URLError, OSError, ValueError, KeyError) as failure:
                error = failure
                time.sleep(1)
        if error is not None:
            self.say(f"Balayage du jour non lancé ({error}) : il partira à 7 h.")
            return
        self.say(f"Balayage du {format_date_fr(day)} lancé : son résultat s'affiche dans l'interface (Runs, Artifacts).")

    def _summary(self, deployments: Sequence[Any]) -> None:
        config = self.config
        from core.settings import get_settings

        store = get_settings().shown_database_url
        lines = [
            "",
            f"GrantFlow est prêt ({len(deployments)} déploiements servis en {self.timings['serve']:.1f} s).",
            f"  Interface Prefect : {config.ui_url}/deployments",
            f"  API Prefect       : {config.api_url}",
            f"  Courriels envoyés : {config.outbox}  (un fichier .eml par message, sans SMTP configuré)",
            f"  Subventions       : {store}",
            "  Planifications (heure de Paris) :",
        ]
        for spec in deployments:
            if spec.cron:
                lines.append(f"    {spec.name:<14} {spec.cron}")
        manual = ", ".join(spec.name for spec in deployments if not spec.cron)
        lines.append(f"  Saisies depuis l'interface (Run > Custom run) : {manual}")
        lines.append("Ctrl-C arrête tout ; les données restent pour le prochain démarrage.")
        self.say("\n".join(lines))

    def _write_state(self) -> None:
        assert self.server is not None and self.serve is not None
        self.config.state_file.write_text(json.dumps({
            "api_url": self.config.api_url, "ui_url": self.config.ui_url,
            "server_pid": self.server.pid, "serve_pid": self.serve.pid, "stack_pid": os.getpid(),
        }, indent=2), encoding="utf-8")
        self.state_written = True

    def wait(self) -> int:
        """Until a signal (0) or a child dies (1)."""
        while not self.stopping:
            for name, process in (("serveur Prefect", self.server), ("service des déploiements", self.serve)):
                if process is not None and process.poll() is not None:
                    self.say(f"Le {name} s'est arrêté (code {process.returncode}) : arrêt de la pile."
                             + (tail(self.config.server_log) if process is self.server else ""))
                    return 1
            time.sleep(0.5)
        return 0

    def stop(self) -> None:
        """Serve first (it pauses its schedules through the API), then the server."""
        self.stopping = True
        if self.server is None and self.serve is None:
            return
        began = time.monotonic()
        if not stop_process(self.serve, signal.SIGINT):
            self.say("Le service des déploiements ne s'arrêtait pas : arrêté de force.")
        if not stop_process(self.server, signal.SIGTERM):
            self.say("Le serveur Prefect ne s'arrêtait pas : arrêté de force.")
        if self.state_written:
            self.config.state_file.unlink(missing_ok=True)
        self.timings["stop"] = time.monotonic() - began
        self.say(f"Pile arrêtée en {self.timings['stop']:.1f} s.")


def run(config: StackConfig, out: IO[str] = sys.stdout) -> int:
    stack = Stack(config, out)
    previous = {sig: signal.signal(sig, stack.request_stop) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    code = 0
    try:
        stack.start()
        code = stack.wait()
    except Interrupted:
        code = 0
    except StackError as error:
        print(f"grantflow up : {error}", file=sys.stderr, flush=True)
        code = 1
    finally:
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code


def up(args: argparse.Namespace) -> int:
    """`grantflow up [--port N] [--no-examples]`."""
    return run(StackConfig.from_environment(port=args.port, load_examples=not args.no_examples))


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m grantflow.stack`: `grantflow up` without importing the whole CLI first.

    ./grantflow-up uses it: the server starts at once, and the CLI's imports (Prefect,
    pandas...) happen in this process while the server starts in its own.
    """
    parser = argparse.ArgumentParser(prog="grantflow up", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, help="port du serveur Prefect (défaut : GRANTFLOW_PREFECT_PORT ou 4200)")
    parser.add_argument("--no-examples", action="store_true", help="ne pas charger les dossiers d'exemple")
    return up(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
