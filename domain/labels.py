"""How the store's codes read in French, for the people who read them.

The store, the JSON views and the journal keep stable codes (`closing`, `overdue`,
`prefecture_receipt`); every text meant for operations staff (the command line, run
logs, simulation lines, messages) says them in French through these tables, so that no
English word reaches a reader and each label is written once.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata

from domain.calendar import format_date_fr


def slug(text: str) -> str:
    """Lowercase letters, digits and dashes (Prefect artifact keys, file names): "Finale" and
    "finale" give the same slug, so names that must not share files are compared by it."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")

STAGES = {
    "deliberation": "délibération",
    "prefecture": "transmission en préfecture",
    "signature": "signature de la convention",
    "active": "convention en cours",
    "closing": "clôture",
    "closed": "close",
    "rejected": "rejetée",
}

INSTALMENT_STATUSES = {
    "scheduled": "à verser",
    "ordered": "ordonnancé",
    "paid": "payé",
    "rejected": "rejeté par le Trésor",
    "failed": "en échec",
    "cancelled": "annulé",
}

OBLIGATION_STATUSES = {
    "pending": "à venir",
    "overdue": "en retard",
    "done": "fait",
    "cancelled": "annulé",
}

REFUND_STATUSES = {
    "due": "à reverser",
    "paid": "reversé",
    "waived": "non réclamé",
}

# The facts an operator or a dossier records (services/facts.py), as nouns.
FACTS = {
    "vote": "vote",
    "prefecture_receipt": "accusé de réception de la préfecture",
    "control_restarted": "demande de pièces du préfet",
    "signature": "signature",
    "payment": "paiement",
    "report": "compte rendu",
    "report_answer": "réponse au compte rendu",
    "disbursement": "versement à un porteur de projet",
    "refund": "reversement",
    "amendment": "avenant",
    "tranche": "année de convention pluriannuelle votée",
    "financial_report": "compte rendu financier",
    "financial_report_checked": "contrôle du compte rendu financier",
}


def label(table: dict[str, str], code: str | None) -> str:
    """The French label of a code; an unknown code is shown as is rather than hidden."""
    if code is None:
        return "—"
    return table.get(code, code)


def stages(*codes: str) -> str:
    """« convention en cours », or « convention en cours », « clôture » for several stages."""
    return ", ".join(f"« {label(STAGES, code)} »" for code in codes)


def reminder_level(code: str) -> str:
    """The level of a reminder (domain/obligations.py: before, due, late_N) as a reader says it."""
    if code == "before":
        return "avant l'échéance"
    if code == "due":
        return "le jour de l'échéance"
    days = code.removeprefix("late_")
    return f"{days} jours après l'échéance" if days.isdigit() else code


def reminders_queued(counts: dict[str, int]) -> str:
    """« 2 avant l'échéance, 1 21 jours après l'échéance », or « aucune »."""
    return ", ".join(f"{n} {reminder_level(level)}" for level, n in counts.items() if n) or "aucune"


def date_or_dash(day: dt.date | None) -> str:
    """27/11/2018, or a dash where a date is not known yet (never "None")."""
    return format_date_fr(day) if day is not None else "—"


def stage_move(before: str, after: str) -> str:
    """"étape transmission en préfecture → signature de la convention", or the one stage kept."""
    if before == after:
        return f"étape {label(STAGES, after)}"
    return f"étape {label(STAGES, before)} → {label(STAGES, after)}"
