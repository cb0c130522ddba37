"""The mail outbox: queue a message once, send it once.

A mail run claims queued messages in small batches, each in its own short transaction
(`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's BEGIN IMMEDIATE serialises writers),
composes them, sends them one by one on the gateway's connection, records each outcome
and commits once per batch. Two workers never take the same row: a second run takes
the next unlocked batch. The first batch of a run holds one message, then two, four...
up to MAIL_BATCH, so that a short queue is still shared between two workers while a long
one costs one transaction per MAIL_BATCH messages (measured in benchmarks/run.py).

What a crash can cause: if the process dies, or the database is lost, after some
messages of a batch went out but before the batch committed, those messages stay
queued and are sent again by the next run (at most MAIL_BATCH of them: the whole batch
when the database is lost at its commit, each with the same Message-ID; with batch=1 at
most the one message in the air, as before). Any other
exception first commits what the batch already sent. A server that is down leaves the
message queued with its error recorded, for the next run; the rest of the batch too.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import clock
from core.settings import Settings
from db.models import Grant, Message, Obligation
from domain.calendar import format_date_fr, format_datetime_fr
from domain.statuses import MessageStatus
from gateways.mail import Mail, MailGateway, MailRejected, MailUnavailable
from gateways.templates import render

QUEUED, SENT, FAILED, WITHDRAWN = (MessageStatus.QUEUED.value, MessageStatus.SENT.value, MessageStatus.FAILED.value,
                                   MessageStatus.WITHDRAWN.value)

# What the debtor is asked for, by kind of obligation (the reminder's key sentence).
WHAT_TO_SEND = {
    "signature_association": "Merci de nous retourner la convention signée par votre président.",
    "signature_authority": "La convention attend la signature de l'autorité territoriale.",
    "report": "Merci de nous adresser le compte rendu bimestriel : rencontres d'accompagnement des porteurs de "
              "projets, financement des projets, répartition des dotations et indicateurs de la convention.",
    "report_answer": "Le compte rendu reçu attend l'appréciation de la collectivité.",
    "payment": "L'échéance de la subvention doit être mandatée au plus tard à cette date.",
    "evaluation": "L'évaluation prévue par la convention est à réaliser et à transmettre.",
    "financial_report": "Merci de nous adresser le compte rendu financier de l'action (Cerfa n°15059), "
                        "charges et produits prévus et réalisés.",
    "refund": "Le reversement de la part non utilisée de la subvention est attendu (titre de recette).",
}


@dataclass
class SendResult:
    sent: list[str] = field(default_factory=list)  # "recipients : subject"
    failures: list[str] = field(default_factory=list)  # "grant : recipients : subject : reason", for good
    failed: int = 0
    waiting: int = 0
    error: str | None = None


def queue(session: Session, grant: Grant, kind: str, dedup_key: str, context: dict[str, Any], *,
          day: dt.date, to_authority: bool = False) -> Message:
    """A message that is not a reminder (payment failure, evaluation, titre), queued once per key."""
    existing = session.scalars(sa.select(Message).where(Message.dedup_key == dedup_key)).one_or_none()
    if existing is not None:
        return existing
    message = Message(grant_id=grant.id, kind=kind, dedup_key=dedup_key, context=context, queued_on=day,
                      status=QUEUED, attempts=0, copy_authority=False,
                      recipients="authority" if to_authority else "association")
    session.add(message)
    session.flush()
    return message


def failure_resolved(session: Session, run_key: str, *, day: dt.date) -> tuple[int, int]:
    """A failed run that completed on a rerun: its failure notices (keyed `run-failed:<run_key>`,
    one per grant for a payment run: `run-failed:<run_key>:<grant>`) must not go out stale.
    A notice still queued is withdrawn; one already sent is followed by a « résolu » mail.
    Returns (withdrawn, resolution mails queued)."""
    notices = session.scalars(sa.select(Message).where(
        Message.kind == "run_failed",
        sa.or_(Message.dedup_key == f"run-failed:{run_key}", Message.dedup_key.like(f"run-failed:{run_key}:%")),
    ).order_by(Message.id)).all()
    withdrawn = resolved = 0
    for notice in notices:
        if notice.status == QUEUED:
            notice.status, notice.last_error = WITHDRAWN, f"échec résolu le {format_date_fr(day)} avant l'envoi"
            withdrawn += 1
        elif notice.status == SENT:
            grant = session.get(Grant, notice.grant_id)
            assert grant is not None
            stored = notice.context or {}
            queue(session, grant, "run_resolved", f"run-resolved:{notice.id}", {
                "flow_name": stored.get("flow_name"), "run_name": stored.get("run_name"),
                "failed_on": stored.get("failed_on"), "resolved_on": day.isoformat(),
            }, day=day, to_authority=True)
            resolved += 1
    return withdrawn, resolved


MAIL_BATCH = 32  # messages claimed per transaction, at most


def _claim(session: Session, size: int) -> tuple[list[Message], list[object]]:
    """Lock up to `size` queued messages (skipping those another run holds), and load at
    once what compose() reads for them: it then finds them in the session, without SQL."""
    query = (sa.select(Message).where(Message.status == QUEUED).order_by(Message.id).limit(size)
             .with_for_update(skip_locked=True))
    messages = list(session.scalars(query))
    grant_ids = {m.grant_id for m in messages}
    obligation_ids = {m.obligation_id for m in messages if m.obligation_id is not None}
    loaded: list[object] = []  # the session only holds weak references: keep them alive
    if grant_ids:
        loaded += session.scalars(sa.select(Grant).where(Grant.id.in_(grant_ids))).unique().all()
    if obligation_ids:
        loaded += session.scalars(sa.select(Obligation).where(Obligation.id.in_(obligation_ids))).all()
    return messages, loaded


def _override_dir(settings: Settings, authority_code: str) -> Path | None:
    if settings.templates_dir is None:
        return None
    own = settings.templates_dir / authority_code
    return own if own.is_dir() else settings.templates_dir


def _typed(key: str, value: Any) -> Any:
    """A stored (JSON) context value as the templates want it: dates (`*_on`) and amounts
    (`amount`, `*_amount`, written as exact text) back to date and Decimal."""
    if isinstance(value, str) and key.endswith("_on"):
        return dt.date.fromisoformat(value)
    if isinstance(value, str) and (key == "amount" or key.endswith("_amount")):
        return Decimal(value)
    return value


def compose(session: Session, message: Message, settings: Settings) -> Mail:
    grant = session.get(Grant, message.grant_id)
    assert grant is not None
    authority, association = grant.authority, grant.association
    context: dict[str, Any] = {
        "grant_reference": grant.reference, "grant_object": grant.object,
        "authority_name": authority.name, "association_name": association.name,
        "contact_email": authority.email,
    }
    to_authority = message.recipients == "authority"
    attachments: tuple[Path, ...] = ()
    if message.obligation_id is not None:
        obligation = session.get(Obligation, message.obligation_id)
        assert obligation is not None
        to_authority = obligation.debtor != "association"
        context |= {"obligation_label": obligation.label, "due_on": obligation.due_on,
                    "days_late": max(0, (message.queued_on - obligation.due_on).days),
                    "what_to_send": WHAT_TO_SEND.get(obligation.kind, obligation.label)}
    else:
        stored = dict(message.context or {})
        attachments = tuple(Path(p) for p in stored.pop("attachments", []))
        context |= {k: _typed(k, v) for k, v in stored.items()}
    subject, text, html = render(message.kind, context, override_dir=_override_dir(settings, authority.code))
    # A change of bank details is announced at the address known before it (services.bank_changes).
    address = context.pop("to_address", None)
    to = (authority.email,) if to_authority else (address or association.email,)
    cc = (authority.email,) if message.copy_authority and not to_authority else ()
    domain = settings.mail_from.rsplit("@", 1)[-1]
    return Mail(message_id=f"<grantflow-{message.id}-{message.level or message.kind}@{domain}>",
                sender=settings.mail_from, to=to, cc=cc, subject=subject, text=text, html=html,
                attachments=attachments)


def _failed_for_good(session: Session, message: Message, mail: Mail, reason: str) -> str:
    """Tell the authority that a message to the association will never arrive as it is (its
    address is wrong or refused): one notice per failed message, none about a notice."""
    grant = session.get(Grant, message.grant_id)
    assert grant is not None
    to = ", ".join(mail.to + mail.cc)
    if grant.authority.email not in mail.to and message.kind != "mail_failed":
        queue(session, grant, "mail_failed", f"mail-failed-{message.id}",
              {"failed_to": to, "failed_subject": mail.subject, "reason": reason},
              day=clock.today(), to_authority=True)
    return f"{grant.reference} : {to} : {mail.subject} : {reason}"


def send_queued(unit_of_work: Callable[[], AbstractContextManager[Session]], gateway: MailGateway,
                settings: Settings, *, limit: int | None = None, batch: int = MAIL_BATCH) -> SendResult:
    """Send queued messages, one claimed batch at a time, until none is left, the limit, or a server error."""
    if batch < 1:
        raise ValueError(f"batch = {batch} : au moins 1 message par lot")
    result = SendResult()
    size = 1
    with gateway:
        while result.error is None:
            done = len(result.sent) + result.failed
            if limit is not None and done >= limit:
                break
            with unit_of_work() as session:
                messages, _loaded = _claim(session, size if limit is None else min(size, limit - done))
                if not messages:
                    break
                # Composed before anything goes out: a message that cannot be composed
                # fails the run with nothing of its batch sent.
                mails = [compose(session, message, settings) for message in messages]
                for message, mail in zip(messages, mails):
                    message.attempts += 1
                    try:
                        raw = gateway.send(mail)
                    except MailUnavailable as error:
                        message.last_error = f"{format_datetime_fr(clock.now())} : {error}"
                        result.error = str(error)
                        break  # the server is down: everything else waits for the next run
                    except MailRejected as error:
                        message.status, message.last_error = FAILED, str(error)
                        result.failed += 1
                        result.failures.append(_failed_for_good(session, message, mail, str(error)))
                        continue
                    except BaseException:
                        session.commit()  # what this batch already sent stays recorded as sent
                        raise
                    message.status, message.sent_at, message.last_error = SENT, clock.now(), None
                    if isinstance(raw, bytes):
                        message.raw, message.raw_sha256 = raw, hashlib.sha256(raw).hexdigest()
                    result.sent.append(f"{', '.join(mail.to + mail.cc)} : {mail.subject}")
            size = min(size * 2, batch)
    with unit_of_work() as session:
        result.waiting = session.scalar(sa.select(sa.func.count()).where(Message.status == QUEUED)) or 0
    return result


