"""Open data: the SCDL « subventions » file an authority must publish (décret 2017-779)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow

from core import clock
from tasks.opendata import export_scdl, publish_scdl


@flow(name="open-data-export", flow_run_name="données essentielles {authority}",
      description="Écrit le fichier SCDL « subventions » (schéma 2.1.1) des conventions signées de la collectivité, "
                  "le montre en artefact, et enregistre la publication : l'obligation de publier dans les 3 mois "
                  "suivant la signature est remplie pour chaque subvention qui l'attendait.")
def open_data_export(authority: str, business_date: dt.date | None = None) -> dict[str, Any]:
    day = business_date or clock.today()
    result = export_scdl(authority, day)
    publish_scdl(authority, day, result)
    return {"path": result["path"], "sha256": result["sha256"], "published": result["published"]}
