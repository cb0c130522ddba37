"""The two stage flows, run under Prefect (the session's test server) against both stores.

The grant is loaded without deliberation nor history (a proposed grant), then the council's
vote and the prefecture's acknowledgement are recorded by the flows, as from the UI.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.sorting import FlowRunSort

from db.models import Base
from flows.deliberation import deliberation_approval
from flows.prefecture import prefecture_receipt
from grantflow.cli import main
from services.facts import CountedVote, PrefectureReceipt

REPO = Path(__file__).resolve().parents[1]
CASQ = "CASQ-2018-INNOSPRINT"

# Seed 002: council of 27/11/2018 convened on 21/11, 76 in office, 62 present + 6 proxies,
# 67 for, 1 abstention; acknowledgement received 12/12/18, published 11/12/18.
# As the « avec décompte » form of the deliberation-approval deployment sends it.
SEED_VOTE = CountedVote(session=dt.date(2018, 11, 27), convened=dt.date(2018, 11, 21), members_in_office=76,
                        present=62, represented=6, votes_for=67, abstentions=1, act_number="44208A")
SEED_RECEIPT = PrefectureReceipt(act_id="002-200071892-20181127-44208A-DE-1-1", received=dt.date(2018, 12, 12),
                                 published=dt.date(2018, 12, 11))


def load_proposed_grant(capsys: pytest.CaptureFixture[str], tmp_path: Path, *, with_vote: bool = False) -> None:
    dossier = yaml.safe_load((REPO / "examples" / "casq-innosprint.yaml").read_text(encoding="utf-8"))
    grant = dossier["grants"][0]
    grant.pop("history")
    if not with_vote:
        grant.pop("deliberation")
    path = tmp_path / "casq-proposed.yaml"
    path.write_text(yaml.safe_dump(dossier, allow_unicode=True, sort_keys=False), encoding="utf-8")
    capsys.readouterr()
    assert main(["load", str(path)]) == 0, capsys.readouterr().err


def view(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["show", CASQ, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def snapshot(engine: sa.Engine) -> dict[str, Any]:
    with engine.connect() as connection:
        counts = {t.name: connection.scalar(sa.select(sa.func.count()).select_from(t))
                  for t in Base.metadata.sorted_tables}
        grants = [tuple(r) for r in connection.execute(sa.text("SELECT reference, stage FROM grants"))]
    return {"counts": counts, "grants": grants}


def flow_runs(*ids: UUID) -> dict[UUID, Any]:
    with get_client(sync_client=True) as client:
        # prefect 3.8.8's sync client sends sort and limit as null unless given (HTTP 422).
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=list(ids))),
                                     sort=FlowRunSort.START_TIME_ASC, limit=len(ids))
        return {run.id: (run, client.read_flow(run.flow_id).name) for run in runs}


def test_a_proposed_grant_is_voted_then_acknowledged(prefect_server, store, capsys, tmp_path):
    load_proposed_grant(capsys, tmp_path)
    assert view(capsys)["stage"] == "deliberation"

    voted = deliberation_approval(act=CASQ, vote=SEED_VOTE, return_state=True)
    assert voted.is_completed(), voted.message
    result = voted.result()
    assert result["stage"] == "prefecture"
    assert "adoptée" in result["reason"] and "39 requis" in result["reason"]

    received = prefecture_receipt(act=CASQ, receipt=SEED_RECEIPT, return_state=True)
    assert received.is_completed(), received.message
    assert received.result()["stage"] == "signature"

    grant = view(capsys)
    assert grant["stage"] == "signature"
    assert grant["executoire_on"] == "2018-12-12"
    assert grant["act_id"] == "002-200071892-20181127-44208A-DE"
    assert (grant["starts_on"], grant["ends_on"]) == ("2018-12-12", "2019-12-11")
    actors = {e["kind"]: e["actor"] for e in grant["events"]}
    assert actors["grant_proposed"] == "grantflow load"
    assert actors["vote_recorded"] == f"prefect:délibération {CASQ}"
    assert actors["prefecture_receipt"] == f"prefect:préfecture {CASQ}"

    vote_id, receipt_id = voted.state_details.flow_run_id, received.state_details.flow_run_id
    runs = flow_runs(vote_id, receipt_id)
    run, flow_name = runs[vote_id]
    assert (run.name, flow_name) == (f"délibération {CASQ}", "deliberation-approval")
    assert run.state.is_completed()
    run, flow_name = runs[receipt_id]
    assert (run.name, flow_name) == (f"préfecture {CASQ}", "prefecture-receipt")
    assert run.state.is_completed()


def test_a_sitting_without_quorum_then_the_reconvened_one(prefect_server, store, capsys, tmp_path):
    load_proposed_grant(capsys, tmp_path)
    # Not an error but an outcome: the flow completes and says why. Called directly, a completed
    # flow returns its result (a state read back from the API may hold none: results are not
    # persisted, and once in a CI run `.result()` found none).
    result = deliberation_approval(act=CASQ, vote=SEED_VOTE.model_copy(update={"present": 30, "votes_for": 35}))
    assert result["stage"] == "deliberation"
    assert "quorum non atteint" in result["reason"] and "30 présents pour 39 requis" in result["reason"]
    assert "01/12/2018" in result["reason"]  # 3 clear days: 28, 29, 30 November

    reconvened = deliberation_approval(
        act=CASQ,
        vote=CountedVote(session=dt.date(2018, 12, 1), reconvened_after=dt.date(2018, 11, 27), members_in_office=76,
                         present=20, represented=4, votes_for=23, votes_against=1, act_number="44208A"))
    assert reconvened["stage"] == "prefecture"


def test_an_acknowledgement_of_another_siren_fails_the_run(prefect_server, store, capsys, tmp_path):
    load_proposed_grant(capsys, tmp_path, with_vote=True)
    assert view(capsys)["stage"] == "prefecture"
    before = snapshot(store.engine)

    other = SEED_RECEIPT.model_copy(update={"act_id": "002-999000003-20181127-44208A-DE-1-1"})
    state = prefecture_receipt(act=CASQ, receipt=other, return_state=True)
    assert state.is_failed()
    assert "SIREN 999000003" in state.message and "200071892" in state.message, state.message
    assert "celui de la collectivité est 200071892" in state.message, state.message

    run, flow_name = flow_runs(state.state_details.flow_run_id)[state.state_details.flow_run_id]
    assert (run.name, flow_name) == (f"préfecture {CASQ}", "prefecture-receipt")
    assert run.state.is_failed()
    # Nothing of the act is written; the only new row is the failure notice queued by the
    # flow's on_failure hook for the authority (flows/hooks.py), which names the rule.
    after = snapshot(store.engine)
    assert after["grants"] == before["grants"]
    assert {k: v for k, v in after["counts"].items() if k != "messages"} == {
        k: v for k, v in before["counts"].items() if k != "messages"}
    assert after["counts"]["obligations"] == 0
    with store.engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM acts WHERE received_on IS NOT NULL")) == 0
    with store.engine.connect() as connection:
        notices = connection.execute(sa.text("SELECT kind, context FROM messages")).all()
    assert len(notices) == before["counts"]["messages"] + 1 == 1
    kind, context = notices[0]
    context = json.loads(context) if isinstance(context, str) else context
    assert kind == "run_failed" and "SIREN 999000003" in context["reason"]
    assert view(capsys)["stage"] == "prefecture"
