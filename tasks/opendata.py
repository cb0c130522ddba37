"""Publishing the SCDL « subventions » file: written, recorded, shown as Prefect artifacts."""
from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from core.settings import get_settings
from db.session import unit_of_work
from services import opendata


@task(name="écrire le fichier SCDL et enregistrer la publication", cache_policy=NO_CACHE)
def export_scdl(authority: str, business_date: dt.date) -> dict[str, Any]:
    settings = get_settings()
    target = (settings.home / "opendata" / f"subventions-{authority}-{business_date:%Y%m%d}.csv").resolve()
    with unit_of_work() as session:
        result = opendata.export(session, authority, target, business_date, actor="prefect:open-data-export")
    return {"path": str(result.path), "sha256": result.sha256, "published": result.published,
            "rows": result.table.to_dict(orient="records")}


@task(name="publier l'export SCDL", cache_policy=NO_CACHE)
def publish_scdl(authority: str, business_date: dt.date, result: dict[str, Any]) -> None:
    key = f"scdl-{authority}".lower()
    create_table_artifact(key=key, table=result["rows"],
                          description=f"Données essentielles des conventions de subvention de {authority} "
                                      f"au {business_date:%d/%m/%Y} (SCDL subventions 2.1.1)")
    met = "".join(f"- {line}\n" for line in result["published"]) or "- aucune obligation en attente\n"
    create_markdown_artifact(
        key=f"{key}-publication",
        markdown=(f"# Export SCDL « subventions » de {authority} au {business_date:%d/%m/%Y}\n\n"
                  f"Fichier : `{result['path']}` ({len(result['rows'])} ligne(s)), SHA-256 `{result['sha256']}`, "
                  "à déposer sur le portail de données ouvertes.\n\n"
                  f"## Obligations de publication remplies (3 mois après la signature)\n\n{met}"),
        description=f"Publication des données essentielles de {authority}")
