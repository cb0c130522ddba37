"""A changed IBAN is never applied by a plain reload (issue 13, "fraude au changement de RIB";
issue 14: the reload says what changed).

The Innosprint seed: Faubourg Numérique paid 35,000.00 EUR by 31/05/2019 to
FR7630004000000000001234573. Its dossier is reloaded on 20/05/2019 with another (valid)
IBAN and a new address: the address changes at once and is said; the IBAN waits, is
journalled with old and new values, announced at the OLD address with the authority in
copy, and the payment waits until a second operator confirms it or 15 days pass (04/06/2019).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from core import clock
from core.settings import get_settings
from db.models import Association, BankChange, Event, Grant, Message
from db.session import unit_of_work
from domain.errors import RuleViolation
from gateways.bank import SimulatedTreasury
from grantflow.cli import main
from services import bank_changes, mailing, payments
from services.commands import BankDetailsConfirmation
from tests.support import EXAMPLES, INNOSPRINT, load_examples, sign_both

OLD_IBAN = "FR7630004000000000001234573"
NEW_IBAN = "FR7630004000000000009876594"
OLD_EMAIL = "contact@faubourg-numerique.example.org"
NEW_EMAIL = "tresorerie@faubourg-numerique.example.org"
RELOADED_ON = dt.date(2019, 5, 20)
PAYDAY = dt.date(2019, 5, 31)
APPLIES_ON = dt.date(2019, 6, 4)  # 20/05 + 15 days


def reload_with(tmp_path: Path, capsys: pytest.CaptureFixture[str], *, iban: str = NEW_IBAN,
                email: str = NEW_EMAIL) -> str:
    dossier = yaml.safe_load((EXAMPLES / "casq-innosprint.yaml").read_text(encoding="utf-8"))
    dossier["associations"][0]["bank"]["iban"] = iban
    dossier["associations"][0]["email"] = email
    path = tmp_path / "casq-innosprint-nouveau-rib.yaml"
    path.write_text(yaml.safe_dump(dossier, allow_unicode=True), encoding="utf-8")
    capsys.readouterr()
    with clock.frozen(RELOADED_ON):
        assert main(["load", str(path)]) == 0
    return capsys.readouterr().out


def association() -> Association:
    with unit_of_work() as session:
        return session.scalars(sa.select(Association).where(Association.code == "faubourg-numerique")).one()


def plan_on(day: dt.date) -> payments.Plan:
    with unit_of_work() as session:
        return payments.payment_plan(session, get_settings(), day, INNOSPRINT)


@pytest.fixture
def signed(store):
    load_examples()
    sign_both()
    return store


def test_a_reload_with_a_new_iban_changes_nothing_and_is_journalled_said_and_mailed(signed, tmp_path, capsys):
    out = reload_with(tmp_path, capsys)

    assert "déjà présent, inchangé" in out  # the grant itself
    assert "IBAN FR76 **** 4573 → FR76 **** 6594" in out and "NON appliqué" in out, out
    assert f"annoncé à {OLD_EMAIL}" in out and "04/06/2019" in out, out
    assert f"adresse électronique modifiée ({OLD_EMAIL} → {NEW_EMAIL})" in out, out
    row = association()
    assert row.iban == OLD_IBAN and row.email == NEW_EMAIL
    with unit_of_work() as session:
        [change] = session.scalars(sa.select(BankChange))
        assert (change.status, change.requested_on, change.applies_on) == ("pending", RELOADED_ON, APPLIES_ON)
        events = {e.kind: e.payload for e in session.scalars(
            sa.select(Event).join(Grant, Grant.id == Event.grant_id).where(Grant.reference == INNOSPRINT))}
        requested = events["bank_details_change_requested"]
        assert requested["old"]["iban"] == OLD_IBAN and requested["new"]["iban"] == NEW_IBAN
        assert requested["fields"] == ["iban"] and requested["announced_to"] == OLD_EMAIL
        assert events["association_changed"]["changes"] == {"email": {"old": OLD_EMAIL, "new": NEW_EMAIL}}
        [message] = session.scalars(sa.select(Message).where(Message.kind == "bank_details_changed"))
        mail = mailing.compose(session, message, get_settings())
    assert mail.to == (OLD_EMAIL,) and mail.cc == ("dev-eco@casq.example.org",)
    assert "FR76 **** 6594" in mail.text and NEW_IBAN not in mail.text and "04/06/2019" in mail.text
    # The same file loaded again records nothing more.
    assert "NON appliqué" not in reload_with(tmp_path, capsys)
    with unit_of_work() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(BankChange)) == 1

    capsys.readouterr()
    assert main(["show", INNOSPRINT]) == 0
    assert "changement de RIB en attente : IBAN FR76 **** 4573 → FR76 **** 6594" in capsys.readouterr().out
    assert main(["audit", "verify"]) == 0


def test_the_payment_waits_until_a_second_operator_confirms(signed, tmp_path, capsys, prefect_server):
    from flows.bank_details import bank_details_confirmation

    reload_with(tmp_path, capsys)
    plan = plan_on(PAYDAY)
    assert plan.ready == []
    [problem] = plan.problems
    assert problem.kind == "conditions" and "changement de coordonnées bancaires en attente" in problem.reason
    assert "bank-details-confirmation" in problem.reason

    with unit_of_work() as session, pytest.raises(RuleViolation, match="second opérateur"):
        bank_changes.confirm(session, "faubourg-numerique", "grantflow load", PAYDAY, actor="test")
    with clock.frozen(PAYDAY):
        result = bank_details_confirmation(BankDetailsConfirmation(association="faubourg-numerique",
                                                                   operator="Claire Martin"))
    assert result["confirmed_by"] == "Claire Martin"
    assert association().iban == NEW_IBAN

    report = payments.pay(unit_of_work, get_settings(), PAYDAY, "test-rib")
    assert [(a.reference, a.amount) for a in report.ordered] == [(INNOSPRINT, 35000)]
    with unit_of_work() as session:
        applied = session.scalars(sa.select(Event).where(Event.kind == "bank_details_applied")).one()
        assert applied.payload["confirmed_by"] == "Claire Martin" and applied.payload["new"]["iban"] == NEW_IBAN
    treasury = SimulatedTreasury(get_settings().treasury_path)
    assert treasury.total_paid() == 35000


def test_an_unconfirmed_change_applies_once_its_delay_has_passed(signed, tmp_path, capsys):
    reload_with(tmp_path, capsys)
    assert plan_on(APPLIES_ON - dt.timedelta(days=1)).ready == []
    assert association().iban == OLD_IBAN
    assert len(plan_on(APPLIES_ON).ready) == 1
    assert association().iban == NEW_IBAN
    with unit_of_work() as session:
        applied = session.scalars(sa.select(Event).where(Event.kind == "bank_details_applied")).one()
        assert applied.payload["after_delay"] is True


def test_a_reload_back_to_the_details_in_force_withdraws_the_pending_change(signed, tmp_path, capsys):
    reload_with(tmp_path, capsys)
    reload_with(tmp_path, capsys, iban=OLD_IBAN)
    with unit_of_work() as session:
        assert [c.status for c in session.scalars(sa.select(BankChange))] == ["superseded"]
    assert len(plan_on(PAYDAY).ready) == 1
