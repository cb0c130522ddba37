"""The `grantflow` command: load dossiers, read the store, play the calendar, run the stack."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from db.migrate import upgrade
from db.session import unit_of_work
from domain.errors import RuleViolation
from grantflow.settings import get_settings
from services import dossier, reading, simulation
from tasks.mail import mail_gateway


def daily_jobs() -> list[simulation.DailyJob]:
    return []


def _store() -> None:
    upgrade(get_settings().resolved_database_url)


def cmd_migrate(_: argparse.Namespace) -> int:
    _store()
    print(f"Base à jour : {get_settings().resolved_database_url}")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    _store()
    try:
        report = dossier.load_files([Path(p) for p in args.files], get_settings(), unit_of_work)
    except dossier.DossierError as error:
        print(f"Dossier refusé, rien n'a été enregistré :\n{error}", file=sys.stderr)
        return 1
    for reference in report.created:
        print(f"chargé : {reference}")
    for reference in report.unchanged:
        print(f"déjà présent, inchangé : {reference}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    _store()
    with unit_of_work() as session:
        table = reading.portfolio(session, args.authority)
    if table.empty:
        print("Aucune subvention.")
    else:
        print(table.to_string(index=False))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    _store()
    try:
        with unit_of_work() as session:
            view = reading.grant_view(session, args.reference)
    except RuleViolation as error:
        print(str(error), file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(view, ensure_ascii=False, indent=2))
        return 0
    print(f"{view['reference']} — {view['object']}")
    print(f"étape : {view['stage']}   montant : {view['amount']} EUR   exécutoire le : {view['executoire_on']}")
    print(f"convention : du {view['starts_on']} au {view['ends_on']}")
    for o in view["obligations"]:
        print(f"  {o['due_on']}  {o['status']:<9} {o['label']}")
    for p in view["payments"]:
        print(f"  versement n°{p['number']} {p['amount']} EUR  échéance {p['due_on']}  {p['status']}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    _store()
    settings = get_settings()
    try:
        facts = simulation.read_facts(Path(args.events)) if args.events else []
        simulation.Simulation(unit_of_work, settings, mail_gateway(settings), daily_jobs()).run(
            args.until, facts, start=args.start)
    except (dossier.DossierError, RuleViolation) as error:
        print(f"Simulation arrêtée : {error}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grantflow", description="Subventions aux associations, de la "
                                     "délibération à la clôture, orchestrées par Prefect.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="crée ou met à jour la base").set_defaults(run=cmd_migrate)
    load = commands.add_parser("load", help="charge des dossiers YAML (tout ou rien)")
    load.add_argument("files", nargs="+")
    load.set_defaults(run=cmd_load)
    listing = commands.add_parser("list", help="le portefeuille en tableau")
    listing.add_argument("--authority")
    listing.set_defaults(run=cmd_list)
    show = commands.add_parser("show", help="une subvention en détail")
    show.add_argument("reference")
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=cmd_show)
    simulate = commands.add_parser("simulate", help="joue le calendrier jour par jour jusqu'à une date")
    simulate.add_argument("--until", type=dt.date.fromisoformat, required=True)
    simulate.add_argument("--from", dest="start", type=dt.date.fromisoformat,
                          help="premier jour (par défaut le lendemain du dernier jour balayé)")
    simulate.add_argument("--events", help="fichier YAML de faits datés à enregistrer le jour venu")
    simulate.set_defaults(run=cmd_simulate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
