"""Every deployment of the project, listed once.

Two things are built from this list:

- `deployments/serve.py` serves them all, with their schedules, for the embedded default
  (`./grantflow-up`);
- `prefect.yaml` declares the same deployments for the production work pool
  ("grantflow", type process). It is generated from this file:

      python -m deployments.catalog            # rewrite prefect.yaml
      python -m deployments.catalog --check    # exit 1 if prefect.yaml is out of date

  and tests/test_deployments.py checks that the two agree.

This module imports no flow (so that reading the catalog is fast); entrypoints are file
paths from the repository root, as prefect.yaml wants them.

Over 300 lines because it is one table, a declaration per deployment; nothing else lives here.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect import Flow

ROOT = Path(__file__).resolve().parents[1]
PREFECT_YAML = ROOT / "prefect.yaml"
WORK_POOL = "grantflow"
TIMEZONE = "Europe/Paris"


@dataclass(frozen=True)
class DeploymentSpec:
    name: str  # the flow's name, also the deployment's name
    entrypoint: str  # "flows/sweep.py:daily_sweep", from the repository root
    description: str  # in French, shown in the UI
    tags: tuple[str, ...]
    cron: str | None = None  # None: no schedule, run from the UI with its form
    timezone: str = TIMEZONE
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def module(self) -> str:
        """flows/sweep.py:daily_sweep -> flows.sweep (the installed package's module)."""
        path = self.entrypoint.split(":", 1)[0]
        return path.removesuffix(".py").replace("/", ".")

    @property
    def function(self) -> str:
        return self.entrypoint.split(":", 1)[1]

    @property
    def full_name(self) -> str:
        """The name `run_deployment` and `prefect deployment run` take: flow/deployment."""
        return f"{self.name}/{self.name}"

    def load_flow(self) -> Flow[..., Any]:
        return getattr(importlib.import_module(self.module), self.function)

    def schedules_yaml(self) -> list[dict[str, Any]]:
        if self.cron is None:
            return []
        return [{"cron": self.cron, "timezone": self.timezone, "active": True}]

    def prefect_yaml_entry(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "entrypoint": self.entrypoint,
            "description": self.description,
            "tags": list(self.tags),
            "parameters": dict(self.parameters),
            "schedules": self.schedules_yaml(),
            "work_pool": {"name": WORK_POOL, "work_queue_name": "default", "job_variables": {}},
        }


_FORM = ("Se lance depuis l'interface : « Run », puis « Custom run », et le formulaire demande la "
         "référence de la subvention et ce qui est à enregistrer.")
_ACT_FORM = ("Se lance depuis l'interface : « Run », puis « Custom run », et le formulaire demande la "
             "référence de l'acte (toutes ses subventions suivent) et ce qui est à enregistrer.")

DEPLOYMENTS: tuple[DeploymentSpec, ...] = (
    # Scheduled: what makes the product run by itself.
    DeploymentSpec(
        name="daily-sweep",
        entrypoint="flows/sweep.py:daily_sweep",
        cron="0 7 * * *",
        description=("Balayage quotidien, chaque jour à 7 h (heure de Paris) : fait avancer les subventions "
                     "dont les conditions sont remplies, marque les obligations en retard, programme les "
                     "relances et publie le tableau du portefeuille. Relancer un jour déjà traité ne change "
                     "rien ; le paramètre business_date permet de rejouer un jour passé."),
        tags=("balayage", "quotidien", "relances"),
    ),
    DeploymentSpec(
        name="mail-run",
        entrypoint="flows/sweep.py:mail_run",
        cron="*/15 8-18 * * 1-5",
        description=("Envoi des courriels en file (relances, avis) toutes les 15 minutes, du lundi au "
                     "vendredi de 8 h à 18 h 45 (heure de Paris). Sans serveur SMTP configuré, chaque "
                     "message est écrit dans le dossier outbox ; un serveur indisponible laisse les "
                     "messages en file pour l'envoi suivant, aucun n'est envoyé deux fois."),
        tags=("courriel", "relances"),
    ),
    DeploymentSpec(
        name="payment-run",
        entrypoint="flows/payment.py:payment_run",
        cron="30 7 * * 1-5",
        description=("Virements du jour, du lundi au vendredi à 7 h 30 (heure de Paris, après le balayage et "
                     "avant le premier envoi de courriels, qui ne rappelle donc pas un paiement ordonné le matin "
                     "même) : retrouve la réponse "
                     "du Trésor aux ordres restés sans réponse, puis ordonne toutes les échéances dues (une "
                     "remise par exécution). En échec, le message nomme chaque subvention, échéance et motif ; "
                     "relancer ne paie jamais deux fois."),
        tags=("paiement", "virements"),
    ),
    # Recorded from the UI: one deployment per fact an operator enters.
    DeploymentSpec(
        name="deliberation-approval",
        entrypoint="flows/deliberation.py:deliberation_approval",
        description=("Saisie du vote d'un acte (conseil, commission permanente ou bureau : séance, quorum, "
                     "décompte des voix) : un acte adopté part en préfecture, une séance sans quorum est à "
                     "reconvoquer. " + _ACT_FORM),
        tags=("saisie", "délibération"),
    ),
    DeploymentSpec(
        name="prefecture-receipt",
        entrypoint="flows/prefecture.py:prefecture_receipt",
        description=("Saisie de la transmission de l'acte en préfecture (accusé de réception @CTES, ou tampon "
                     "pour un acte sur papier) : calcule la date à laquelle l'acte et ses subventions deviennent "
                     "exécutoires et ouvre le délai de contrôle de légalité. " + _ACT_FORM),
        tags=("saisie", "préfecture"),
    ),
    DeploymentSpec(
        name="legality-control-restarted",
        entrypoint="flows/prefecture.py:legality_control_restarted",
        description=("Saisie d'une demande de pièces ou d'une lettre d'observations du préfet : le délai "
                     "de deux mois du contrôle de légalité repart de cette date. " + _ACT_FORM),
        tags=("saisie", "préfecture", "contrôle de légalité"),
    ),
    DeploymentSpec(
        name="convention-signature",
        entrypoint="flows/signature.py:convention_signature",
        description=("Saisie de la signature de la convention par l'association ou par la collectivité ; "
                     "signée des deux parties, la subvention devient active. " + _FORM),
        tags=("saisie", "convention", "signature"),
    ),
    DeploymentSpec(
        name="report-received",
        entrypoint="flows/reporting.py:report_received",
        description=("Saisie d'un compte rendu de l'association avec ses indicateurs ; la réponse de la "
                     "collectivité devient due. " + _FORM),
        tags=("saisie", "compte rendu"),
    ),
    DeploymentSpec(
        name="report-answered",
        entrypoint="flows/reporting.py:report_answered",
        description="Saisie de la réponse de la collectivité à un compte rendu. " + _FORM,
        tags=("saisie", "compte rendu"),
    ),
    DeploymentSpec(
        name="grant-payment",
        entrypoint="flows/payment.py:grant_payment",
        description=("Versement d'une subvention à la demande : toutes les échéances dues, ou celle dont le "
                     "numéro est donné, après vérification de l'acte exécutoire, de la convention signée, du "
                     "SIRET et du RIB. Relançable sans risque : jamais payé deux fois. Se lance depuis "
                     "l'interface : « Run », puis « Custom run » (référence de la subvention, numéro "
                     "d'échéance facultatif)."),
        tags=("paiement", "saisie"),
    ),
    DeploymentSpec(
        name="payment-confirmation",
        entrypoint="flows/payment.py:payment_confirmation",
        description=("Saisie de la confirmation de paiement du Trésor : l'échéance est payée à la date "
                     "donnée. " + _FORM),
        tags=("saisie", "paiement"),
    ),
    DeploymentSpec(
        name="bank-details-confirmation",
        entrypoint="flows/bank_details.py:bank_details_confirmation",
        description=("Confirmation, par un second opérateur, du changement de coordonnées bancaires (IBAN, BIC, "
                     "titulaire) d'une association enregistré au rechargement de son dossier : il s'applique "
                     "aussitôt et ses paiements reprennent (sans confirmation, il s'applique au terme du délai "
                     "GRANTFLOW_BANK_CHANGE_DELAY_DAYS). Se lance depuis l'interface : « Run », puis « Custom "
                     "run », et le formulaire demande le code de l'association et le nom de l'opérateur."),
        tags=("saisie", "paiement", "RIB"),
    ),
    DeploymentSpec(
        name="disbursement-recorded",
        entrypoint="flows/disbursement.py:disbursement_recorded",
        description=("Saisie d'un versement de l'association à un porteur de projet ; le total redistribué "
                     "ne peut pas dépasser le montant de la subvention. " + _FORM),
        tags=("saisie", "redistribution"),
    ),
    DeploymentSpec(
        name="refund-received",
        entrypoint="flows/closure.py:refund_received",
        description=("Saisie d'un reversement reçu au titre de recette : un paiement partiel laisse le reste "
                     "dû, le paiement complet solde le titre et clôt la subvention. " + _FORM),
        tags=("saisie", "reversement", "clôture"),
    ),
    DeploymentSpec(
        name="financial-report-received",
        entrypoint="flows/financial_report.py:financial_report_received",
        description=("Saisie du compte rendu financier (Cerfa 15059) : charges et produits prévus et réalisés, "
                     "écarts calculés. " + _FORM),
        tags=("saisie", "compte rendu financier", "clôture"),
    ),
    DeploymentSpec(
        name="financial-report-checked",
        entrypoint="flows/financial_report.py:financial_report_checked",
        description=("Saisie du contrôle du compte rendu financier par la collectivité (approuvé, dépenses "
                     "éligibles) : le solde qui l'attendait devient dû, la clôture peut se calculer. " + _FORM),
        tags=("saisie", "compte rendu financier", "clôture"),
    ),
    DeploymentSpec(
        name="grant-amendment",
        entrypoint="flows/amendment.py:grant_amendment",
        description=("Saisie d'un avenant à la convention : nouvelle date de fin, montant supplémentaire et "
                     "ses échéances ; les obligations suivent. " + _FORM),
        tags=("saisie", "avenant", "convention"),
    ),
    DeploymentSpec(
        name="convention-year-voted",
        entrypoint="flows/amendment.py:convention_year_voted",
        description=("Saisie d'une année d'une convention pluriannuelle d'objectifs : exercice, montant, acte "
                     "annuel exécutoire ou avenant (sans changer la fin), échéances ; son compte rendu "
                     "financier est dû 6 mois après l'exercice. " + _FORM),
        tags=("saisie", "avenant", "convention pluriannuelle"),
    ),
    # Started by the daily sweep when due (as subflows); by hand from the UI to redo one.
    DeploymentSpec(
        name="grant-evaluation",
        entrypoint="flows/evaluation.py:grant_evaluation",
        description=("Évaluation d'une subvention (indicateurs comparés aux objectifs, redistribution, "
                     "comptes rendus manquants), envoyée à la collectivité. Le balayage quotidien la lance "
                     "quand elle est due ; à la main : « Run », puis « Custom run » (référence de la "
                     "subvention et nom de l'évaluation)."),
        tags=("évaluation",),
    ),
    DeploymentSpec(
        name="grant-closure",
        entrypoint="flows/closure.py:grant_closure",
        description=("Clôture d'une convention terminée : calcule le reversement et émet le titre de recette "
                     "s'il y a lieu. Le balayage quotidien la lance pour chaque convention terminée ; à la "
                     "main : « Run », puis « Custom run » (référence de la subvention)."),
        tags=("clôture",),
    ),
    DeploymentSpec(
        name="open-data-export",
        entrypoint="flows/opendata.py:open_data_export",
        description=("Export des données essentielles des conventions (SCDL « subventions ») d'une collectivité : "
                     "fichier CSV conforme au schéma officiel, artefact, et publication enregistrée (obligation "
                     "des 3 mois remplie). Le formulaire demande le code de la collectivité (ex. casq)."),
        tags=("données ouvertes", "SCDL"),
    ),
)


def prefect_yaml_document() -> dict[str, Any]:
    """prefect.yaml as data: the production deployments for the process work pool."""
    return {
        "name": "grantflow",
        "prefect-version": "3.8.8",
        "build": None,
        "push": None,
        # Workers run the code from their own checkout of this repository, with the
        # project installed in their environment (pip install -e .): set GRANTFLOW_REPO
        # to that checkout in each worker's environment.
        "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": "{{ $GRANTFLOW_REPO }}"}}],
        "deployments": [spec.prefect_yaml_entry() for spec in DEPLOYMENTS],
    }


HEADER = """\
# Generated from deployments/catalog.py: edit the catalog, then run
#     python -m deployments.catalog
# tests/test_deployments.py checks that this file and the catalog agree.
#
# Production: a process work pool named "grantflow", workers on one or more machines,
# each with a checkout of this repository, the project installed (pip install -e .),
# GRANTFLOW_REPO set to that checkout and GRANTFLOW_DATABASE_URL to the grants store:
#     prefect work-pool create grantflow --type process
#     prefect --no-prompt deploy --all
#     GRANTFLOW_REPO=/srv/grantflow prefect worker start --pool grantflow
"""


def render_prefect_yaml() -> str:
    import yaml

    body = yaml.safe_dump(prefect_yaml_document(), allow_unicode=True, sort_keys=False, width=100)
    return HEADER + "\n" + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deployments.catalog",
                                     description="Écrit prefect.yaml à partir du catalogue des déploiements.")
    parser.add_argument("--check", action="store_true", help="vérifie seulement que prefect.yaml est à jour")
    parser.add_argument("--output", type=Path, default=PREFECT_YAML)
    args = parser.parse_args(argv)
    text = render_prefect_yaml()
    current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
    if args.check:
        if current != text:
            print(f"{args.output} n'est pas à jour : lancez python -m deployments.catalog", file=sys.stderr)
            return 1
        print(f"{args.output} est à jour ({len(DEPLOYMENTS)} déploiements).")
        return 0
    if current != text:
        args.output.write_text(text, encoding="utf-8")
    print(f"{args.output} : {len(DEPLOYMENTS)} déploiements.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
