"""The run forms of the Prefect UI, as an operator fills them.

Prefect titles each top-level parameter with its Python name (`reference`, `vote`) and
gives an optional field (`int | None`) or an amount (`Decimal`: number or text) a type
switch ("None" / "int") to toggle before typing. The served deployments' parameter
schemas are rewritten here: each top-level field titled in French, each optional field
shown as the plain input of its type (left empty, the flow gets its default), each
amount as text (read by domain.money, like the dossiers).

`python -m deployments.serve` serves them so; after `prefect deploy --all` (production),
`python -m deployments.forms` rewrites the registered deployments' forms the same way.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from deployments.catalog import DEPLOYMENTS, DeploymentSpec

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

# One French title per flow parameter name (tests/test_forms.py checks that every
# parameter of every deployment has one).
PARAMETER_TITLES = {
    "reference": "Référence de la subvention",
    "act": "Acte (sa référence, ou celle d'une subvention votée seule)",
    "authority": "Collectivité (son code, ex. casq)",
    "business_date": "Jour traité (vide : aujourd'hui)",
    "number": "N° de l'échéance (vide : toutes celles qui sont dues)",
    "name": "Évaluation (ex. mi-parcours, finale)",
    "max_grant_runs": "Évaluations et clôtures lancées au plus par balayage",
    "limit": "Nombre maximal de courriels envoyés (vide : tous)",
    "vote": "Vote",
    "receipt": "Transmission en préfecture",
    "restart": "Demande du préfet",
    "signature": "Signature",
    "confirmation": "Confirmation du Trésor",
    "report": "Compte rendu",
    "answer": "Réponse de la collectivité",
    "disbursement": "Versement à un porteur de projet",
    "refund": "Reversement reçu",
    "amendment": "Avenant",
    "check": "Contrôle du compte rendu financier",
    "tranche": "Année de la convention pluriannuelle",
    "change": "Changement de coordonnées bancaires à confirmer",
}


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """`anyOf: [X, null]` (an optional field) becomes X, not required: left empty, it is not
    sent and the flow takes its default (a null default would fail the server's check of X)."""
    options = schema.get("anyOf")
    if isinstance(options, list):
        kept = [option for option in options if option != {"type": "null"}]
        if {option.get("type") for option in kept} == {"number", "string"}:
            kept = [{"type": "string"}]  # an amount (Decimal): written as text, read by domain.money
        if len(kept) == 1:
            schema = {k: v for k, v in schema.items() if k != "anyOf" and (k, v) != ("default", None)} | kept[0]
    rewritten = {k: _rewrite(v) for k, v in schema.items()}
    if isinstance(rewritten.get("properties"), dict):
        # A model's `event` discriminator (a constant, for dossiers): nothing to fill.
        rewritten["properties"] = {k: v for k, v in rewritten["properties"].items()
                                   if not (isinstance(v, dict) and "const" in v)}
    return rewritten


def _rewrite(value: Any) -> Any:
    if isinstance(value, dict):
        return _without_null(value)
    if isinstance(value, list):
        return [_rewrite(item) for item in value]
    return value


def operator_form(schema: dict[str, Any]) -> dict[str, Any]:
    """A deployment's parameter schema (`properties`, `definitions`...) as the operator's form."""
    form = _rewrite(schema)
    for name, field in form.get("properties", {}).items():
        field["title"] = PARAMETER_TITLES[name]
    return form


def apply_forms(client: SyncPrefectClient, specs: Iterable[DeploymentSpec] = DEPLOYMENTS) -> list[str]:
    """The operator's forms on deployments registered by `prefect deploy` (which registers
    Prefect's own schema): the names of the deployments updated."""
    from prefect.client.schemas.actions import DeploymentUpdate
    from prefect.exceptions import ObjectNotFound

    updated = []
    for spec in specs:
        try:
            deployment = client.read_deployment_by_name(spec.full_name)
        except ObjectNotFound:
            continue
        form = operator_form(deployment.parameter_openapi_schema or {})
        client.update_deployment(deployment.id, DeploymentUpdate(parameter_openapi_schema=form))
        updated.append(spec.name)
    return updated


def main() -> int:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        updated = apply_forms(client)
    print(f"Formulaires en français : {len(updated)} déploiement(s) mis à jour ({', '.join(updated)}).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
