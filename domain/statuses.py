"""The statuses of the records that have no transition table of their own (instalments and
obligations have theirs, in domain.lifecycle): a mail, a refund, a change of bank details.
Stored as their string values; labelled in French in domain.labels."""
from __future__ import annotations

from enum import StrEnum


class MessageStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"  # refused for good by the server (an address that does not exist)
    WITHDRAWN = "withdrawn"  # its obligation was met, or its failure resolved, before it went out


class RefundStatus(StrEnum):
    DUE = "due"  # a titre de recette is issued and not yet paid in full
    WAIVED = "waived"  # nothing to claim back (or under the titre's floor)
    PAID = "paid"


class BankChangeStatus(StrEnum):
    PENDING = "pending"  # waits for a second operator, or its delay
    APPLIED = "applied"
    SUPERSEDED = "superseded"  # replaced by another change, or withdrawn by a reload of the details in force
