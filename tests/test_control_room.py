"""The Prefect UI as control room: artifacts, tags, failures mailed to the authority (issue 6)."""
from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
import yaml
from prefect.client.orchestration import get_client

from core.settings import get_settings
from db.models import Message
from db.session import unit_of_work
from flows.prefecture import prefecture_receipt
from flows.signature import convention_signature
from flows.sweep import daily_sweep
from gateways.wiring import mail_gateway
from services import commands, mailing
from services.dossier import load_files
from tests.support import EXAMPLES, INNOSPRINT, latest_artifact, sign_both


def test_the_daily_sweep_publishes_the_portfolio_and_what_it_sent(prefect_server, examples_loaded):
    sign_both()
    result = daily_sweep(business_date=dt.date(2019, 2, 5))
    assert result["sent"] == 1 and result["waiting"] == 0
    table = latest_artifact("portefeuille")["data"]
    row = next(r for r in (table if isinstance(table, list) else json.loads(table)) if r["reference"] == INNOSPRINT)
    assert (row["stage"], row["next_due_on"], row["next_obligation"]) == ("active", "2019-02-12", "compte rendu n°1")
    report = latest_artifact("envois-du-jour")["data"]
    assert "Balayage du 05/02/2019" in report and "compte rendu n°1" in report
    assert len(list((examples_loaded.home / "outbox").glob("*.eml"))) == 1


def test_a_failed_run_names_the_reason_in_french_and_mails_the_authority_once(prefect_server, examples_loaded):
    wrong = commands.Signature(party="association", on=dt.date(2018, 12, 1))  # before the prefect's receipt
    state = convention_signature(INNOSPRINT, wrong, return_state=True)
    assert state.is_failed()
    assert "préfecture" in state.message and "12/12/2018" in state.message
    with unit_of_work() as session:
        [message] = session.scalars(sa.select(Message).where(Message.kind == "run_failed")).all()
        assert message.recipients == "authority"
    settings = get_settings()
    mailing.send_queued(unit_of_work, mail_gateway(settings), settings)
    [eml] = (examples_loaded.home / "outbox").glob("*.eml")
    text = eml.read_bytes().decode("utf-8", "replace")
    assert "dev-eco@casq.example.org" in text and "signature CASQ-2018-INNOSPRINT" in text
    # Nothing was written by the failed run: the grant still waits for both signatures.
    with unit_of_work() as session:
        assert session.scalar(sa.text("SELECT count(*) FROM signatures")) == 0


def test_runs_are_named_after_the_grant_and_tagged_with_authority_and_stage(prefect_server, examples_loaded):
    state = convention_signature(INNOSPRINT, commands.Signature(party="association", on=dt.date(2018, 12, 20)),
                                 return_state=True)
    assert state.is_completed()
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.name == "signature CASQ-2018-INNOSPRINT (association)"
    assert {"collectivité:casq", "étape:signature"} <= set(run.tags)


def test_a_receipt_naming_another_act_fails_with_the_rule(prefect_server, store):
    dossier = yaml.safe_load((EXAMPLES / "casq-innosprint.yaml").read_text(encoding="utf-8"))
    dossier["grants"][0]["history"] = []
    path = store.home.parent / "no-history.yaml"
    path.write_text(yaml.safe_dump(dossier, allow_unicode=True), encoding="utf-8")
    load_files([path], get_settings(), unit_of_work)
    receipt = commands.PrefectureReceipt(act_id="002-200071892-20181128-44208A-DE-1-1",
                                         received=dt.date(2018, 12, 12), published=dt.date(2018, 12, 11))
    state = prefecture_receipt(INNOSPRINT, receipt, return_state=True)
    assert state.is_failed() and "27/11/2018" in state.message


def test_runs_the_scheduler_creates_are_named_at_once_with_their_day_and_step(prefect_server):
    from prefect.states import Scheduled

    from deployments.serve import name_scheduled_runs
    from flows.sweep import daily_sweep, mail_run

    # 23:30 UTC on 2 December is 00:30 on 3 December in Paris: the business day is the 3rd.
    at = dt.datetime(2026, 12, 2, 23, 30, tzinfo=dt.timezone.utc)
    with get_client(sync_client=True) as client:
        sweep = client.create_flow_run(daily_sweep, state=Scheduled(scheduled_time=at))
        mail = client.create_flow_run(mail_run, state=Scheduled(scheduled_time=at + dt.timedelta(hours=8)))
        assert name_scheduled_runs(client) >= 2
        assert client.read_flow_run(sweep.id).name == "balayage du 03/12/2026"
        assert client.read_flow_run(mail.id).name == "envoi des courriels du 03/12/2026 08:30"
        assert name_scheduled_runs(client) == 0  # named once
