"""The grants store: SQLAlchemy 2 typed models.

One table of obligations drives every reminder, escalation and transition; every change
of state also appends a row to `events` in the same transaction (the audit trail).
Constraint names follow a naming convention so that one Alembic tree runs the same on
SQLite (batch mode) and PostgreSQL.

One module, over 300 lines, because it is the schema: Alembic compares it whole, and a
newcomer reads every table and constraint in one place.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from core import clock
from db.types import Instant, Money
from domain.lifecycle import OBLIGATION_OPEN

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: sa.JSON, list[Any]: sa.JSON}


def _grant_fk(*, index: bool = True) -> Mapped[int]:
    return mapped_column(sa.ForeignKey("grants.id", ondelete="CASCADE"), index=index)


class Authority(Base):
    __tablename__ = "authorities"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(255))
    siren: Mapped[str] = mapped_column(sa.String(9))
    # The siège's SIRET: the SCDL open-data export identifies the authority by it.
    siret: Mapped[str | None] = mapped_column(sa.String(14))
    department: Mapped[str] = mapped_column(sa.String(3))
    kind: Mapped[str] = mapped_column(sa.String(16))
    email: Mapped[str] = mapped_column(sa.String(255))
    # The authority's treasury account, the debtor of SEPA credit transfers.
    iban: Mapped[str | None] = mapped_column(sa.String(34))
    bic: Mapped[str | None] = mapped_column(sa.String(11))


class Association(Base):
    __tablename__ = "associations"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(255))
    siret: Mapped[str] = mapped_column(sa.String(14))
    rna: Mapped[str | None] = mapped_column(sa.String(10))
    email: Mapped[str] = mapped_column(sa.String(255))
    iban: Mapped[str] = mapped_column(sa.String(34))
    bic: Mapped[str] = mapped_column(sa.String(11))
    holder: Mapped[str] = mapped_column(sa.String(32))


class BankChange(Base):
    """A changed IBAN, BIC or holder of an association (domain.bank_change): the association
    row keeps the details in force; a change is applied to it once confirmed by a second
    operator or once its delay has passed."""

    __tablename__ = "bank_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    association_id: Mapped[int] = mapped_column(sa.ForeignKey("associations.id", ondelete="CASCADE"), index=True)
    old_iban: Mapped[str] = mapped_column(sa.String(34))
    old_bic: Mapped[str] = mapped_column(sa.String(11))
    old_holder: Mapped[str] = mapped_column(sa.String(32))
    new_iban: Mapped[str] = mapped_column(sa.String(34))
    new_bic: Mapped[str] = mapped_column(sa.String(11))
    new_holder: Mapped[str] = mapped_column(sa.String(32))
    # The association's address when the change was recorded: where it is announced.
    notified_email: Mapped[str] = mapped_column(sa.String(255))
    requested_on: Mapped[dt.date]
    requested_by: Mapped[str] = mapped_column(sa.String(64))
    applies_on: Mapped[dt.date]  # unconfirmed, it takes effect that day
    # pending | applied (confirmed, or its delay passed) | superseded (a later change replaced it)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    confirmed_by: Mapped[str | None] = mapped_column(sa.String(64))
    applied_on: Mapped[dt.date | None]


class Grant(Base):
    __tablename__ = "grants"
    # The sweep's bounded read of conventions that ended: only active grants, by their end.
    __table_args__ = (sa.Index("ix_grants_active_ends_on", "ends_on", postgresql_where=sa.text("stage = 'active'"),
                               sqlite_where=sa.text("stage = 'active'")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(64), unique=True)
    authority_id: Mapped[int] = mapped_column(sa.ForeignKey("authorities.id"), index=True)
    association_id: Mapped[int] = mapped_column(sa.ForeignKey("associations.id"), index=True)
    object: Mapped[str] = mapped_column(sa.Text)
    amount: Mapped[Decimal] = mapped_column(Money)
    stage: Mapped[str] = mapped_column(sa.String(16), index=True)
    convention_required: Mapped[bool]
    duration_months: Mapped[int]
    # "executoire", "signature" or an ISO date: what starts the convention's duration.
    starts_from: Mapped[str] = mapped_column(sa.String(16))
    starts_on: Mapped[dt.date | None]
    ends_on: Mapped[dt.date | None]
    reports_every_months: Mapped[int | None]
    # domain.grant_end: fonctionnement | projet | redistribution, and the convention's refund
    # clause: reliquat | prorata | aucun | non_redistribue.
    kind: Mapped[str] = mapped_column(sa.String(16))
    refund_clause: Mapped[str] = mapped_column(sa.String(16))
    # Closure waits for the compte rendu financier checked when it is owed.
    financial_report_owed: Mapped[bool]
    # The financed exercise's last day (None: the calendar year of the convention's start).
    exercise_ends_on: Mapped[dt.date | None]
    # A convention pluriannuelle d'objectifs: how many financial years it runs (2 to 4), each
    # voted by its own act (`convention_years`); None for a one-year grant.
    years: Mapped[int | None]
    targets: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dossier: Mapped[dict[str, Any]] = mapped_column(default=dict)  # as loaded, for auditors
    # The act that decides the grant, with the other grants of the same deliberation; none
    # while the grant is only proposed.
    act_id: Mapped[int | None] = mapped_column(sa.ForeignKey("acts.id"), index=True)

    authority: Mapped[Authority] = relationship(lazy="joined")
    association: Mapped[Association] = relationship(lazy="joined")


class Act(Base):
    """A decision of the authority's council, commission permanente or bureau: its sitting,
    its vote (the `deliberations` rows) and its one transmission to the prefecture, which
    makes every grant it decides exécutoire at once."""

    __tablename__ = "acts"
    __table_args__ = (sa.UniqueConstraint("authority_id", "reference"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(sa.ForeignKey("authorities.id"), index=True)
    reference: Mapped[str] = mapped_column(sa.String(64))  # `id` in dossiers
    body: Mapped[str] = mapped_column(sa.String(24))  # conseil | commission_permanente | bureau
    sitting_first: Mapped[dt.date | None]
    sitting_last: Mapped[dt.date | None]
    act_number: Mapped[str | None] = mapped_column(sa.String(15))
    transmission: Mapped[str | None] = mapped_column(sa.String(8))  # ctes | paper, once received
    act_id: Mapped[str | None] = mapped_column(sa.String(64), unique=True)  # bare @CTES identifier
    received_on: Mapped[dt.date | None]
    published_on: Mapped[dt.date | None]
    executoire_on: Mapped[dt.date | None]
    control_restarted_on: Mapped[dt.date | None]
    control_ends_on: Mapped[dt.date | None]
    dossier: Mapped[dict[str, Any]] = mapped_column(default=dict)  # as loaded, for auditors

    authority: Mapped[Authority] = relationship(lazy="joined")


class ConventionYear(Base):
    """One year of a multi-year convention (CPO): its amount and what voted it (the grant's
    own act for the first year, then an annual act or an avenant that keeps the end date)."""

    __tablename__ = "convention_years"
    __table_args__ = (sa.UniqueConstraint("grant_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = _grant_fk()
    number: Mapped[int]  # the year's rank in the convention: its compte rendu financier's number
    exercise: Mapped[int]
    amount: Mapped[Decimal] = mapped_column(Money)
    act_id: Mapped[int | None] = mapped_column(sa.ForeignKey("acts.id"), index=True)  # None: the grant's act
    amendment_number: Mapped[int | None]  # voted by this avenant
    voted_on: Mapped[dt.date | None]


class Deliberation(Base):
    """A sitting's vote on the act; a failed quorum leads to a second one."""

    __tablename__ = "deliberations"
    __table_args__ = (sa.UniqueConstraint("act_id", "session_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    act_id: Mapped[int] = mapped_column(sa.ForeignKey("acts.id", ondelete="CASCADE"), index=True)
    session_on: Mapped[dt.date]
    convened_on: Mapped[dt.date | None]
    members_in_office: Mapped[int | None]
    present: Mapped[int | None]
    represented: Mapped[int] = mapped_column(default=0)
    votes_for: Mapped[int | None]
    votes_against: Mapped[int | None]
    abstentions: Mapped[int | None]
    not_voting: Mapped[int | None]
    president_vote: Mapped[str | None] = mapped_column(sa.String(8))
    secret: Mapped[bool] = mapped_column(default=False)
    urgency: Mapped[bool] = mapped_column(default=False)
    reconvened_after: Mapped[dt.date | None]
    act_number: Mapped[str | None] = mapped_column(sa.String(15))
    outcome: Mapped[str] = mapped_column(sa.String(16))  # adopted | rejected | quorum_failed
    quorum_required: Mapped[int | None]


class Signature(Base):
    __tablename__ = "signatures"
    __table_args__ = (sa.UniqueConstraint("grant_id", "party"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = _grant_fk()
    party: Mapped[str] = mapped_column(sa.String(16))  # association | authority
    signed_on: Mapped[dt.date]


class Instalment(Base):
    __tablename__ = "instalments"
    __table_args__ = (sa.UniqueConstraint("grant_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = _grant_fk()
    number: Mapped[int]
    amount: Mapped[Decimal] = mapped_column(Money)
    # Known from the dossier, or 60 days after the act became enforceable (loi 2021-875), or
    # `condition_days` after the fact it waits for (None until that fact happens).
    due_on: Mapped[dt.date | None]
    condition: Mapped[str | None] = mapped_column(sa.String(32))  # domain.grant_end.Condition
    condition_number: Mapped[int | None]  # the report, for condition "rapport"
    condition_days: Mapped[int | None]
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    # Sent with every order of this instalment: the bank pays a key once.
    idempotency_key: Mapped[str] = mapped_column(sa.String(35), unique=True)
    attempts: Mapped[int] = mapped_column(default=0)
    ordered_at: Mapped[dt.datetime | None] = mapped_column(Instant)
    batch_id: Mapped[str | None] = mapped_column(sa.String(64))
    paid_on: Mapped[dt.date | None]
    reason: Mapped[str | None] = mapped_column(sa.Text)


OPEN_OBLIGATION = f"status IN ({', '.join(repr(status) for status in OBLIGATION_OPEN)})"


class Obligation(Base):
    """Something due, from someone, by a date: the table every reminder is computed from."""

    __tablename__ = "obligations"
    __table_args__ = (
        sa.UniqueConstraint("grant_id", "kind", "number"),
        sa.Index("ix_obligations_open_due", "status", "due_on"),
        sa.Index("ix_obligations_placed_on", "placed_on", postgresql_where=sa.text(OPEN_OBLIGATION),
                 sqlite_where=sa.text(OPEN_OBLIGATION)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Looked up through the unique key (grant_id, kind, number): an index of its own would
    # only be one more to write on every change (migration 0008).
    grant_id: Mapped[int] = _grant_fk(index=False)
    kind: Mapped[str] = mapped_column(sa.String(32))
    number: Mapped[int] = mapped_column(default=1)
    label: Mapped[str] = mapped_column(sa.String(255))
    debtor: Mapped[str] = mapped_column(sa.String(16))  # association | authority | prefecture
    due_on: Mapped[dt.date]
    status: Mapped[str] = mapped_column(sa.String(16))  # pending | overdue | done | cancelled
    done_on: Mapped[dt.date | None]
    # Some obligations are informative (the prefect's control window): no reminder.
    remind: Mapped[bool] = mapped_column(default=True)
    # The business day it was created or its due date last moved: the daily sweep reads the
    # obligations whose reminder levels fall on its day (by due date) and those placed since
    # the last day swept, which may have reached levels already (services.sweep_steps).
    # NULL: placed before migration 0009, known to the sweeps since.
    placed_on: Mapped[dt.date | None] = mapped_column(default=clock.today)


@sa.event.listens_for(Obligation.due_on, "set")
def _placed_again(target: Obligation, value: dt.date, old: object, initiator: object) -> None:
    """Whoever moves a due date (an avenant, a fact that sets it), the sweep looks at every level it reached."""
    if value != old:
        target.placed_on = clock.today()


class Report(Base):
    __tablename__ = "reports"
    __table_args__ = (sa.UniqueConstraint("grant_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = _grant_fk()
    number: Mapped[int]
    received_on: Mapped[dt.date]
    indicators: Mapped[dict[str, Any]] = mapped_column(default=dict)
    text: Mapped[str] = mapped_column(sa.Text, default="")
    answered_on: Mapped[dt.date | None]


class Disbursement(Base):
    """Money the association redistributed to project holders: its eligible spending."""

    __tablename__ = "disbursements"

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = _grant_fk()
    paid_on: Mapped[dt.date]
    beneficiary: Mapped[str] = mapped_column(sa.String(255))
    amount: Mapped[Decimal] = mapped_column(Money)


class FinancialReport(Base):
    """The compte rendu financier (Cerfa 15059) of one financial year, and its check."""

    __tablename__ = "financial_reports"
    __table_args__ = (sa.UniqueConstraint("grant_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = _grant_fk()
    number: Mapped[int]  # the financial year's rank in the convention
    received_on: Mapped[dt.date]
    charges_budgeted: Mapped[Decimal] = mapped_column(Money)
    charges_actual: Mapped[Decimal] = mapped_column(Money)
    products_budgeted: Mapped[Decimal] = mapped_column(Money)
    products_actual: Mapped[Decimal] = mapped_column(Money)
    checked_on: Mapped[dt.date | None]
    approved: Mapped[bool | None]
    eligible_spending: Mapped[Decimal | None] = mapped_column(Money)


class Evaluation(Base):
    __tablename__ = "evaluations"
    __table_args__ = (sa.UniqueConstraint("grant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = _grant_fk()
    name: Mapped[str] = mapped_column(sa.String(64))
    at_months: Mapped[int]
    done_on: Mapped[dt.date | None]
    summary: Mapped[str | None] = mapped_column(sa.Text)
    results: Mapped[list[Any] | None]


class Refund(Base):
    """What is claimed back at closure, and the titre de recette when one is issued."""

    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(sa.ForeignKey("grants.id", ondelete="CASCADE"), unique=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    received: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    status: Mapped[str] = mapped_column(sa.String(16))  # due | waived | paid
    grounds: Mapped[str] = mapped_column(sa.Text)
    titre_number: Mapped[str | None] = mapped_column(sa.String(32), unique=True)
    issued_on: Mapped[dt.date | None]
    due_on: Mapped[dt.date | None]
    # Each sum received against the titre ({on, amount} as text): a partial refund leaves
    # the rest due, and the same receipt recorded twice is counted once.
    receipts: Mapped[list[Any]] = mapped_column(default=list)


class Message(Base):
    """The mail outbox. A reminder is unique per (obligation, level); other messages per key.

    Sending claims rows (row locks, SKIP LOCKED on PostgreSQL), so a re-run or a second
    worker never sends one twice; a server that is down leaves the row queued with its
    error, for the next run.
    """

    __tablename__ = "messages"
    __table_args__ = (
        sa.UniqueConstraint("obligation_id", "level"),
        sa.Index("ix_messages_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = _grant_fk()
    kind: Mapped[str] = mapped_column(sa.String(32))  # the template
    obligation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("obligations.id", ondelete="CASCADE"))
    level: Mapped[str | None] = mapped_column(sa.String(16))
    # Reminder levels in order (before < due < late_7 < late_21): a sweep re-run for an
    # earlier day never queues a level below one already queued.
    level_rank: Mapped[int | None]
    dedup_key: Mapped[str | None] = mapped_column(sa.String(128), unique=True)
    context: Mapped[dict[str, Any] | None]  # template variables of non-reminder messages
    copy_authority: Mapped[bool] = mapped_column(default=False)
    queued_on: Mapped[dt.date]
    # queued | sent | failed | withdrawn (its obligation was fulfilled before it went out)
    status: Mapped[str] = mapped_column(sa.String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    sent_at: Mapped[dt.datetime | None] = mapped_column(Instant)
    recipients: Mapped[str | None] = mapped_column(sa.Text)
    # The exact bytes handed to the server (or written to the outbox): audit bundles carry
    # these, never a message rendered again from templates that may have changed since.
    raw: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    raw_sha256: Mapped[str | None] = mapped_column(sa.String(64))


class Event(Base):
    """The append-only journal: who did what, when, with what data.

    `hash` chains each event to the previous one of its grant, so that an edited row is
    found by `grantflow audit verify`. `alg` says how: "hmac-sha256" with the journal key
    (kept outside the store), or "sha256" for events written before the key existed.
    """

    __tablename__ = "events"
    __table_args__ = (sa.UniqueConstraint("grant_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Looked up through the unique key (grant_id, seq) (migration 0009).
    grant_id: Mapped[int] = _grant_fk(index=False)
    seq: Mapped[int]
    at: Mapped[dt.datetime] = mapped_column(Instant)
    business_date: Mapped[dt.date]
    actor: Mapped[str] = mapped_column(sa.String(64))
    kind: Mapped[str] = mapped_column(sa.String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))
    alg: Mapped[str] = mapped_column(sa.String(16))


class SweepRun(Base):
    """Business dates the daily sweep has completed: where `simulate` resumes."""

    __tablename__ = "sweep_runs"

    business_date: Mapped[dt.date] = mapped_column(primary_key=True)
    finished_at: Mapped[dt.datetime] = mapped_column(Instant)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
