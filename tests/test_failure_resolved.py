"""A failure notice that tells the truth once the failure is resolved (issue 14, item 3):
a notice still queued when the rerun completes is withdrawn; one already sent is followed
by a « résolu » mail to the authority."""
from __future__ import annotations

import datetime as dt
import email
import email.policy

import pytest
import sqlalchemy as sa
from prefect.client.orchestration import get_client

from core import settings as settings_module
from core.settings import get_settings
from db.models import Association, Message
from db.session import unit_of_work
from flows.hooks import failure_resolved
from flows.payment import grant_payment
from gateways.bank import FaultPlan
from gateways.wiring import mail_gateway
from services import mailing
from tests.support import INNOSPRINT, load_examples, sign_both

PAYDAY = dt.date(2019, 5, 31)  # art. 4.1 of the convention: "au plus tard en Mai 2019"
INNOSPRINT_IBAN = "FR7630004000000000001234573"  # examples/casq-innosprint.yaml (fictitious)
CORRECTED_IBAN = "FR7630004000000000009876594"


@pytest.fixture
def rejected_run(store, prefect_server, monkeypatch):
    """grant-payment of Innosprint failed on a rejected IBAN, then the IBAN corrected."""
    load_examples()
    sign_both()
    plan = get_settings().home / "fault-plan.json"
    FaultPlan(reject_iban={INNOSPRINT_IBAN: "compte clos : coordonnées bancaires invalides"}).to_json(plan)
    monkeypatch.setenv("GRANTFLOW_TREASURY_FAULT_PLAN", str(plan))
    settings_module.get_settings.cache_clear()
    state = grant_payment(INNOSPRINT, business_date=PAYDAY, return_state=True)
    assert state.is_failed() and "compte clos" in state.message
    with unit_of_work() as session:
        association = session.scalars(sa.select(Association).where(Association.code == "faubourg-numerique")).one()
        association.iban = CORRECTED_IBAN
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    return run


def notices() -> list[tuple[str, str]]:
    with unit_of_work() as session:
        return [(m.kind, m.status) for m in session.scalars(
            sa.select(Message).where(Message.kind.in_(("run_failed", "run_resolved"))).order_by(Message.id))]


def send_all() -> list[str]:
    settings = get_settings()
    return mailing.send_queued(unit_of_work, mail_gateway(settings), settings).sent


def test_a_notice_still_queued_when_the_rerun_completes_is_withdrawn(rejected_run):
    assert notices() == [("run_failed", "queued")]
    rerun = grant_payment(INNOSPRINT, business_date=PAYDAY, return_state=True)
    assert rerun.is_completed(), rerun.message
    failure_resolved(grant_payment, rejected_run, rerun)  # what the Retry of that same run calls

    assert notices() == [("run_failed", "withdrawn")]
    assert send_all() == []  # nothing stale goes out


def test_a_notice_already_sent_is_followed_by_a_resolved_mail(rejected_run):
    [failed] = send_all()
    assert failed.startswith("dev-eco@casq.example.org : Échec de « paiement CASQ-2018-INNOSPRINT")
    rerun = grant_payment(INNOSPRINT, business_date=PAYDAY, return_state=True)
    assert rerun.is_completed(), rerun.message
    failure_resolved(grant_payment, rejected_run, rerun)
    failure_resolved(grant_payment, rejected_run, rerun)  # a second completion queues nothing more

    assert notices() == [("run_failed", "sent"), ("run_resolved", "queued")]
    [resolved] = send_all()
    assert resolved == "dev-eco@casq.example.org : Résolu : « paiement CASQ-2018-INNOSPRINT » (subvention " \
                       "CASQ-2018-INNOSPRINT)"
    with unit_of_work() as session:
        raw = session.scalars(sa.select(Message.raw).where(Message.kind == "run_resolved")).one()
    body = email.message_from_bytes(raw, policy=email.policy.default).get_body(("plain",)).get_content()
    assert "L'échec de l'étape « grant-payment » de la subvention CASQ-2018-INNOSPRINT" in body
    assert "est résolu : l'exécution « paiement CASQ-2018-INNOSPRINT » a abouti" in body


def test_a_run_that_never_failed_changes_no_message(store, prefect_server):
    load_examples()
    sign_both()
    state = grant_payment(INNOSPRINT, business_date=PAYDAY, return_state=True)
    assert state.is_completed(), state.message
    assert notices() == []
