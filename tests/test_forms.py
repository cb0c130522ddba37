"""The run forms an operator fills in the Prefect UI (issue 14, item 2), read from the
parameter schema each served deployment registers: French titles everywhere, counts as
plain integer inputs, the vote « avec décompte » or « sans décompte », dates as dates."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from deployments.catalog import DEPLOYMENTS
from deployments.serve import runner_deployment

ENGLISH = re.compile(r"\b(the|of|and|is|its|on|with|for|grant|council)\b", re.IGNORECASE)


def form(name: str) -> dict[str, Any]:
    [spec] = [s for s in DEPLOYMENTS if s.name == name]
    return runner_deployment(spec)._parameter_openapi_schema.model_dump_for_openapi()


def fields(schema: dict[str, Any]):
    """Every field of the form, nested models included: (where, its schema)."""
    for name, field in schema.get("properties", {}).items():
        yield name, field
    for model, definition in schema.get("definitions", {}).items():
        for name, field in definition.get("properties", {}).items():
            yield f"{model}.{name}", field


@pytest.mark.parametrize("name", [s.name for s in DEPLOYMENTS])
def test_every_field_is_titled_in_french_without_a_type_to_toggle(name):
    schema = form(name)
    for where, field in fields(schema):
        assert field.get("title") and field["title"] != where.rsplit(".", 1)[-1], (name, where, field)
        assert not ENGLISH.search(field["title"]), (name, where, field["title"])
        assert not ("anyOf" in field and {"type": "null"} in field["anyOf"]), (name, where, field)
        assert field.get("default", 0) is not None, (name, where, field)
    for model, definition in schema.get("definitions", {}).items():
        assert not ENGLISH.search(definition.get("description", "")), (name, model, definition["description"])


def test_the_vote_form_is_with_or_without_a_count_and_counts_are_plain_numbers():
    schema = form("deliberation-approval")
    assert schema["properties"]["act"]["title"].startswith("Acte")
    vote = schema["properties"]["vote"]
    assert vote["title"] == "Vote"
    choices = [schema["definitions"][option["$ref"].rsplit("/", 1)[-1]] for option in vote["anyOf"]]
    assert [c["title"] for c in choices] == ["avec décompte", "sans décompte"]
    counted, outcome = (c["properties"] for c in choices)
    for count in ("members_in_office", "present", "represented", "votes_for", "votes_against", "abstentions"):
        assert counted[count]["type"] == "integer" and "anyOf" not in counted[count], count
    assert (counted["session"]["type"], counted["session"]["format"]) == ("string", "date")
    assert (counted["convened"]["type"], counted["convened"]["format"]) == ("string", "date")
    assert outcome["outcome"]["enum"] == ["adoptée", "rejetée"]
    assert "members_in_office" not in outcome


def test_the_forms_values_reach_the_rule_as_the_seed_vote():
    from services.facts import CountedVote, OutcomeVote, Vote, Votes

    # What the form sends for seed 002: 76 in office, 62 present, 6 proxies, 67 for, 1 abstention.
    sent = {"session": "2018-11-27", "convened": "2018-11-21", "members_in_office": 76, "present": 62,
            "represented": 6, "votes_for": 67, "abstentions": 1, "act_number": "44208A"}
    assert CountedVote.model_validate(sent).as_vote() == Vote(
        session=dt.date(2018, 11, 27), convened=dt.date(2018, 11, 21), members_in_office=76, present=62,
        represented=6, votes=Votes(for_=67, against=0, abstentions=1), act_number="44208A")
    # Seed 000 gives the outcome only.
    assert OutcomeVote.model_validate({"session": "2015-10-06", "outcome": "adoptée"}).as_vote() == Vote(
        session=dt.date(2015, 10, 6), outcome="adopted")


def test_the_signature_form_asks_only_who_signed_and_when():
    schema = form("convention-signature")
    assert [p["title"] for p in schema["properties"].values()] == ["Référence de la subvention", "Signature"]
    assert list(schema["definitions"]["Signature"]["properties"]) == ["party", "on"]


def test_deployments_registered_by_prefect_deploy_get_the_same_forms(prefect_server):
    from prefect.client.orchestration import get_client
    from prefect.utilities.callables import parameter_schema

    from deployments.forms import apply_forms

    [spec] = [s for s in DEPLOYMENTS if s.name == "grant-payment"]
    flow = spec.load_flow()
    with get_client(sync_client=True) as client:
        # What `prefect deploy` registers: Prefect's own schema, Python names as titles.
        client.create_deployment(flow_id=client.create_flow(flow), name=spec.name,
                                 parameter_openapi_schema=parameter_schema(flow).model_dump_for_openapi())
        assert client.read_deployment_by_name(spec.full_name).parameter_openapi_schema["properties"][
            "reference"]["title"] == "reference"
        assert apply_forms(client, [spec]) == ["grant-payment"]
        registered = client.read_deployment_by_name(spec.full_name).parameter_openapi_schema
    assert registered == form("grant-payment")
    assert registered["properties"]["number"] == {
        "position": 1, "title": "N° de l'échéance (vide : toutes celles qui sont dues)", "type": "integer"}
