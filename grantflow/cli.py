"""The `grantflow` command: load dossiers, read the store, play the calendar, run the stack."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from core import clock
from core.settings import get_settings
from db.migrate import upgrade
from db.session import unit_of_work
from domain import labels
from domain.errors import RuleViolation
from domain.money import format_amount_fr
from gateways.wiring import mail_gateway
from services import (
    annex,
    audit,
    dossier,
    journal_anchors,
    opendata,
    payments,
    portfolio_report,
    reading,
    simulation,
)


def daily_jobs() -> list[simulation.DailyJob]:
    """What the scheduled deployments do each day besides the sweep, in the same order."""
    settings = get_settings()
    return [payments.daily_payments(unit_of_work, settings),
            simulation.evaluations_and_closures(unit_of_work, settings)]


def _store() -> None:
    upgrade(get_settings().resolved_database_url)


def cmd_migrate(_: argparse.Namespace) -> int:
    _store()
    print(f"Base à jour : {get_settings().shown_database_url}")
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
    for reference in report.completed:
        print(f"historique complété : {reference}")
    for reference in report.unchanged:
        print(f"déjà présent, inchangé : {reference}")
    for change in report.changes:
        print(f"modifié : {change}")
    for notice in report.notices:
        print(f"attention : {notice}")
    return 0


def cmd_import_annex(args: argparse.Namespace) -> int:
    _store()
    try:
        report = annex.import_file(args.act, Path(args.file), get_settings(), unit_of_work)
    except annex.AnnexError as error:
        print(f"Annexe refusée, rien n'a été enregistré :\n{error}", file=sys.stderr)
        return 1
    for label, references in (("créée", report.created), ("déjà présente, inchangée", report.unchanged)):
        print("".join(f"{label} : {reference}\n" for reference in references), end="")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    _store()
    with unit_of_work() as session:
        table = reading.portfolio(session, args.authority)
    if table.empty:
        print("Aucune subvention.")
    else:
        print(portfolio_in_french(table).to_string(index=False))
    return 0


PORTFOLIO_HEADERS = {
    "reference": "référence", "authority": "collectivité", "association": "association", "stage": "étape",
    "amount": "montant", "paid": "payé", "next_due_on": "prochaine échéance", "next_obligation": "pour",
    "overdue": "en retard",
}


def portfolio_in_french(table: Any) -> Any:
    shown = table.copy()
    shown["stage"] = shown["stage"].map(lambda code: labels.label(labels.STAGES, code))
    shown["next_due_on"] = shown["next_due_on"].map(lambda iso: labels.date_or_dash(_date(iso)))
    shown["next_obligation"] = shown["next_obligation"].map(lambda text: text if isinstance(text, str) else "—")
    return shown.rename(columns=PORTFOLIO_HEADERS)


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
    print_grant(view)
    return 0


def print_grant(view: dict[str, Any]) -> None:
    """The grant as operations staff read it: French words, dd/mm/yyyy dates, a dash for the unknown."""
    day = labels.date_or_dash
    print(f"{view['reference']} — {view['object']}")
    print(f"étape : {labels.label(labels.STAGES, view['stage'])}   "
          f"montant : {format_amount_fr(Decimal(view['amount']))}   "
          f"exécutoire le : {day(_date(view['executoire_on']))}")
    if view["act"] is not None:
        print(_act_line(view["act"]))
    print(f"convention : du {day(_date(view['starts_on']))} au {day(_date(view['ends_on']))}"
          + ("" if view["convention_required"] else " (convention non obligatoire)"))
    if view.get("years"):
        print(f"convention pluriannuelle sur {view['years']['count']} ans :")
        for year in view["years"]["voted"]:
            voted_by = (f"avenant n°{year['amendment']}" if year["amendment"] else f"acte {year['act'] or '—'}")
            print(f"  année {year['number']} ({year['exercise']}) {format_amount_fr(Decimal(year['amount']))}, "
                  f"votée par {voted_by}")
    for o in view["obligations"]:
        status = labels.label(labels.OBLIGATION_STATUSES, o["status"])
        print(f"  {day(_date(o['due_on']))}  {status:<9} {o['label']}")
    for p in view["payments"]:
        due = f"échéance {day(_date(p['due_on']))}" if p["due_on"] else "échéance à fixer"
        print(f"  versement n°{p['number']} {format_amount_fr(Decimal(p['amount']))}  {due}  "
              f"{labels.label(labels.INSTALMENT_STATUSES, p['status'])}")
    if change := view.get("bank_change_pending"):
        print(f"  changement de RIB en attente : {change['change']} (enregistré le "
              f"{day(_date(change['requested_on']))} par {change['requested_by']}, à confirmer par un second "
              f"opérateur, sinon effectif le {day(_date(change['applies_on']))}) : paiements suspendus")
    refund = view.get("refund")
    if refund:
        print(f"  reversement {format_amount_fr(Decimal(refund['amount']))} "
              f"{labels.label(labels.REFUND_STATUSES, refund['status'])}"
              + (f", titre n°{refund['titre_number']}" if refund["titre_number"] else ""))


def _date(iso: object) -> dt.date | None:
    # pandas turns a missing date into NaN, a float.
    return dt.date.fromisoformat(iso) if isinstance(iso, str) and iso else None


def _act_line(act: dict[str, Any]) -> str:
    def fr(iso: str) -> str:
        return labels.date_or_dash(_date(iso))

    line = f"acte : {act['reference']} — {act['body_fr']}"
    if act["sitting_first"]:
        first, last = act["sitting_first"], act["sitting_last"]
        line += f", séance du {fr(first)}" + (f" au {fr(last)}" if last != first else "")
    if act["transmission"] == "paper":
        line += f", transmis sur papier, reçu en préfecture le {fr(act['received_on'])}"
    elif act["transmission"] == "ctes":
        line += f", transmis par @CTES ({act['act_id']}), reçu en préfecture le {fr(act['received_on'])}"
    else:
        line += ", non encore transmis en préfecture"
    return line


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


def cmd_up(args: argparse.Namespace) -> int:
    from grantflow import stack
    return stack.up(args)


def cmd_report(args: argparse.Namespace) -> int:
    _store()
    with unit_of_work() as session:
        table = portfolio_report.portfolio_report(session, args.authority)
    output = Path(args.output or f"portefeuille-{args.authority or 'tout'}.{args.format}")
    portfolio_report.write_report(table, output, args.format)
    print(f"{len(table)} subvention(s) écrite(s) dans {output}")
    return 0


def cmd_export_scdl(args: argparse.Namespace) -> int:
    _store()
    output = Path(args.output or f"subventions-{args.authority}.csv")
    try:
        with unit_of_work() as session:
            result = opendata.export(session, args.authority, output, clock.today(), actor="grantflow export")
    except RuleViolation as error:
        print(str(error), file=sys.stderr)
        return 1
    print(f"{len(result.table)} subvention(s) au format SCDL dans {output} (SHA-256 {result.sha256})")
    for line in result.published:
        print(f"obligation de publication remplie : {line}")
    return 0


def cmd_audit_verify(_: argparse.Namespace) -> int:
    _store()
    settings = get_settings()
    with unit_of_work() as session:
        breaks = audit.integrity(session, settings)
    for b in breaks:
        print(f"{b.grant_reference} : événement n°{b.seq}" + (f" (id {b.event_id})" if b.event_id else "")
              + f" : {b.reason}")
    print(f"journal intègre et conforme aux ancrages de {settings.anchors_path}" if not breaks
          else f"{len(breaks)} rupture(s) dans le journal")
    return 1 if breaks else 0


def cmd_audit_anchor(_: argparse.Namespace) -> int:
    _store()
    settings = get_settings()
    with unit_of_work() as session:
        written = journal_anchors.anchor(session, settings)
    print(f"{written} tête(s) de chaîne ancrée(s) dans {settings.anchors_path}")
    return 0


def cmd_audit_bundle(args: argparse.Namespace) -> int:
    _store()
    settings = get_settings()
    try:
        with unit_of_work() as session:
            path = audit.bundle(session, args.reference, settings,
                                Path(args.output or f"audit-{args.reference}.zip"))
    except RuleViolation as error:
        print(str(error), file=sys.stderr)
        return 1
    print(f"dossier d'audit écrit dans {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grantflow", description="Subventions aux associations, de la "
                                     "délibération à la clôture, orchestrées par Prefect.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="crée ou met à jour la base").set_defaults(run=cmd_migrate)
    load = commands.add_parser("load", help="charge des dossiers YAML (tout ou rien)")
    load.add_argument("files", nargs="+")
    load.set_defaults(run=cmd_load)
    annex_table = commands.add_parser("import-annex", help="crée les subventions d'un acte depuis son tableau "
                                      "annexe .csv ou .xlsx (tout ou rien)")
    annex_table.add_argument("act", help="référence de l'acte (son id dans le dossier)")
    annex_table.add_argument("file")
    annex_table.set_defaults(run=cmd_import_annex)
    listing = commands.add_parser("list", help="le portefeuille en tableau")
    listing.add_argument("--authority")
    listing.set_defaults(run=cmd_list)
    show = commands.add_parser("show", help="une subvention en détail")
    show.add_argument("reference")
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=cmd_show)
    report = commands.add_parser("report", help="exporte le portefeuille (mêmes colonnes que l'artefact)")
    report.add_argument("--authority")
    report.add_argument("--format", choices=("xlsx", "csv"), default="xlsx")
    report.add_argument("--output")
    report.set_defaults(run=cmd_report)
    export = commands.add_parser("export", help="données ouvertes").add_subparsers(dest="what", required=True)
    scdl = export.add_parser("scdl", help="fichier SCDL « subventions » (décret 2017-779)")
    scdl.add_argument("--authority", required=True)
    scdl.add_argument("--output")
    scdl.set_defaults(run=cmd_export_scdl)
    audit_commands = commands.add_parser("audit", help="journal infalsifiable").add_subparsers(
        dest="what", required=True)
    audit_commands.add_parser("verify", help="vérifie le journal (chaînage, clé, ancrages hors base)").set_defaults(
        run=cmd_audit_verify)
    audit_commands.add_parser("anchor", help="ancre les têtes de chaîne hors de la base (le balayage le fait "
                              "chaque jour)").set_defaults(run=cmd_audit_anchor)
    bundle = audit_commands.add_parser("bundle", help="archive zip d'un dossier pour un auditeur")
    bundle.add_argument("reference")
    bundle.add_argument("--output")
    bundle.set_defaults(run=cmd_audit_bundle)
    simulate = commands.add_parser("simulate", help="joue le calendrier jour par jour jusqu'à une date")
    simulate.add_argument("--until", type=dt.date.fromisoformat, required=True)
    simulate.add_argument("--from", dest="start", type=dt.date.fromisoformat,
                          help="premier jour (par défaut le lendemain du dernier jour balayé)")
    simulate.add_argument("--events", help="fichier YAML de faits datés à enregistrer le jour venu")
    simulate.set_defaults(run=cmd_simulate)
    up = commands.add_parser("up", help="serveur Prefect local + tous les déploiements planifiés (Ctrl-C arrête)")
    up.add_argument("--port", type=int, help="port du serveur Prefect (défaut : GRANTFLOW_PREFECT_PORT ou 4200)")
    up.add_argument("--no-examples", action="store_true", help="ne pas charger les dossiers d'exemple")
    up.set_defaults(run=cmd_up)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except sa.exc.OperationalError as error:
        # The store is down or unreachable: said in French, without a traceback nor the password.
        cause = str(error.orig).strip().splitlines()[0] if error.orig is not None else type(error).__name__
        print(f"Base de données injoignable ({get_settings().shown_database_url}) : {cause[:200]} ; rien n'a été "
              "enregistré, relancer la commande une fois la base disponible", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
