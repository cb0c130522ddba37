"""Mail texts: Jinja2 templates in French, which an authority may override file by file.

Each kind of mail has three templates in `mail_templates/`: `{kind}.subject.j2`,
`{kind}.txt.j2` and `{kind}.html.j2`. An authority's own folder, when given, is searched
first, so it can reword any of them (or the shared `_base.*.j2` frames) without code.

Formatting is French and does not depend on the machine's locale (a worker's locale
is rarely fr_FR): day and month names are spelled out here.
"""
from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    select_autoescape,
)
from markupsafe import Markup, escape

from domain.calendar import format_date_fr
from domain.money import digits_fr

__all__ = ["render", "date_fr", "date_fr_long", "eur", "nl2br", "KINDS", "TEMPLATES_DIR"]

TEMPLATES_DIR = Path(__file__).parent / "mail_templates"

# The kinds shipped with the product; an override folder may add others.
KINDS = (
    "reminder_before",
    "reminder_due",
    "reminder_late",
    "payment_failed",
    "evaluation_summary",
    "titre_de_recette",
    "run_failed",
    "run_resolved",
    "mail_failed",
    "bank_details_changed",
)

_DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre")


def _as_date(value: date) -> date:
    if not isinstance(value, date):
        raise TypeError(f"une date est attendue, pas {type(value).__name__} ({value!r})")
    return value


def date_fr(value: date) -> str:
    """12/04/2019."""
    return format_date_fr(_as_date(value))


def date_fr_long(value: date) -> str:
    """vendredi 12 avril 2019; the first of the month is written "1er"."""
    d = _as_date(value)
    day = "1er" if d.day == 1 else str(d.day)
    return f"{_DAYS[d.weekday()]} {day} {_MONTHS[d.month - 1]} {d.year}"


_CENT = Decimal("0.01")


def eur(amount: Decimal | int) -> str:
    """35 000,00 € (spaces between thousands, comma for the cents).

    A float is refused (money is never a float here), and so is an amount with a
    fraction of a cent: rounding it silently would show a sum nobody decided.
    """
    if isinstance(amount, bool) or not isinstance(amount, (Decimal, int)):
        raise TypeError(f"un montant Decimal ou entier est attendu, pas {type(amount).__name__}")
    value = Decimal(amount)
    if not value.is_finite():
        raise ValueError(f"montant invalide : {value}")
    cents = value.quantize(_CENT)
    if cents != value:
        raise ValueError(f"montant avec une fraction de centime : {value}")
    return f"{digits_fr(cents if cents else abs(cents))} €"  # never "-0,00 €"


def nl2br(text: str) -> Markup:
    """User text shown in HTML: escaped first, then its line breaks kept as <br>."""
    lines = str(text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return Markup("<br>\n").join(escape(line) for line in lines)


_KIND = re.compile(r"^[a-z][a-z0-9_]*$")
_WHITESPACE = re.compile(r"\s+")


@lru_cache(maxsize=32)
def _environment(override_dir: Path | None) -> Environment:
    loaders = [FileSystemLoader(TEMPLATES_DIR)]
    if override_dir is not None:
        loaders.insert(0, FileSystemLoader(override_dir))
    env = Environment(
        loader=ChoiceLoader(loaders),
        # Only the HTML templates are escaped; a subject or a text body is not HTML.
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,  # a missing variable fails the render, not the mail
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(date_fr=date_fr, date_fr_long=date_fr_long, eur=eur, nl2br=nl2br)
    return env


def render(kind: str, context: dict[str, Any], *,
           override_dir: Path | None = None) -> tuple[str, str, str]:
    """(subject, text, html) of one mail of `kind`, in French.

    Raises jinja2.TemplateNotFound for an unknown kind and jinja2.UndefinedError when
    the context lacks a variable a template uses.
    """
    if not _KIND.fullmatch(kind):
        raise ValueError(f"type de courriel invalide : {kind!r}")
    if override_dir is not None:
        override_dir = Path(override_dir).resolve()
        if not override_dir.is_dir():
            # A configured folder that is missing would silently fall back to the
            # product's texts: say it instead.
            raise FileNotFoundError(f"dossier de modèles introuvable : {override_dir}")
    env = _environment(override_dir)
    subject = env.get_template(f"{kind}.subject.j2").render(context)
    text = env.get_template(f"{kind}.txt.j2").render(context)
    html = env.get_template(f"{kind}.html.j2").render(context)
    # A subject is one line: whatever the template or the data held, no CR/LF.
    subject = _WHITESPACE.sub(" ", subject).strip()
    return subject, _tidy_text(text), html


def _tidy_text(text: str) -> str:
    """No trailing spaces, at most one blank line in a row, one final newline."""
    lines = [line.rstrip() for line in text.splitlines()]
    tidy: list[str] = []
    for line in lines:
        if line == "" and (not tidy or tidy[-1] == ""):
            continue
        tidy.append(line)
    while tidy and tidy[-1] == "":
        tidy.pop()
    return "\n".join(tidy) + "\n"
