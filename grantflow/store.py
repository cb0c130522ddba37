"""The grants store as an operator prepares it: migrated, dossiers loaded, and in French
when it cannot be reached.

Both entry points use it: the `grantflow` command (`migrate`, `load`) and `grantflow up`
(grantflow.stack), which prepares the store without going back through the command line.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import sqlalchemy as sa

from core.settings import get_settings
from db.migrate import upgrade as upgrade_schema
from db.session import unit_of_work
from services import dossier
from services.dossier_messages import DossierError


def upgrade() -> None:
    """The store at the latest schema (every command starts with it)."""
    upgrade_schema(get_settings().resolved_database_url)


def migrate() -> int:
    upgrade()
    print(f"Base à jour : {get_settings().shown_database_url}")
    return 0


def load(files: Sequence[Path]) -> int:
    upgrade()
    try:
        report = dossier.load_files(list(files), get_settings(), unit_of_work)
    except DossierError as error:
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


def unless_unreachable(command: Callable[[], int]) -> int:
    """The command's exit code; 2 when the store is down or unreachable, said in French,
    without a traceback nor the password."""
    try:
        return command()
    except sa.exc.OperationalError as error:
        cause = str(error.orig).strip().splitlines()[0] if error.orig is not None else type(error).__name__
        print(f"Base de données injoignable ({get_settings().shown_database_url}) : {cause[:200]} ; rien n'a été "
              "enregistré, relancer la commande une fois la base disponible", file=sys.stderr)
        return 2
