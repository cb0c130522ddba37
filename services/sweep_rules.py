"""The rules of domain/ that the daily sweep applies in SQL, derived from domain's tables.

The sweep moves grants on and obligations past their due date in set-based statements,
so it cannot call the Python guards row by row. What it applies is taken from the tables
of `domain.lifecycle` here, once: each stage move the sweep makes by itself is the
table's transition, and its condition is the AND of that transition's guards, each
written once in SQL in `GUARD_SQL`. A guard added to one of those transitions without its
SQL fails at import; a guard whose SQL no longer says what the Python guard says fails
tests/test_sweep_rules.py, which evaluates both on the same grants. The obligation status
changes the sweep writes are checked against `OBLIGATION_TRANSITIONS` at import too.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from types import MappingProxyType

from core.settings import Settings
from domain import lifecycle
from domain.lifecycle import STAGE_TRANSITIONS, Guard, ObligationStatus, Stage, Transition
from domain.obligations import DUE, ReminderPolicy, reminder_schedule

# Each guard the sweep applies, as a condition on the grant `g` on `:day` (the facts:
# the act's exécutoire date, the signatures, the end of the convention).
GUARD_SQL: Mapping[Guard, str] = MappingProxyType({
    lifecycle.act_executoire: "EXISTS (SELECT 1 FROM acts a WHERE a.id = g.act_id AND a.executoire_on <= :day)",
    # Both parties: one signature each (unique per grant and party).
    lifecycle.convention_signed_when_compulsory:
        "(g.convention_required = false OR (SELECT count(*) FROM signatures s WHERE s.grant_id = g.id) >= 2)",
    lifecycle.convention_ended: "g.ends_on < :day",
})

# The moves that need no one's act, only time: in the order one sweep makes them (a grant
# may make both on the same day).
SWEPT_MOVES: tuple[tuple[Stage, Stage], ...] = ((Stage.SIGNATURE, Stage.ACTIVE), (Stage.ACTIVE, Stage.CLOSING))

# The obligation status changes the sweep's SQL writes: past due, and informative
# deadlines (nobody owes them) over once past.
SWEPT_OBLIGATION_MOVES: Mapping[tuple[ObligationStatus, ObligationStatus], str] = MappingProxyType({
    (ObligationStatus.PENDING, ObligationStatus.OVERDUE): "a reminded obligation past its due date",
    (ObligationStatus.PENDING, ObligationStatus.DONE): "an informative deadline past",
})

# A grant there still reminds; at a final stage (closed, rejected) its reminders are over.
LIVE_STAGES = (Stage.PREFECTURE.value, Stage.SIGNATURE.value, Stage.ACTIVE.value, Stage.CLOSING.value)


def transition(source: Stage, target: Stage) -> Transition:
    return next(t for t in STAGE_TRANSITIONS if (t.source, t.target) == (source, target))


def move_condition(source: Stage, target: Stage) -> str:
    """The SQL condition on grant `g` for the table's move from `source` to `target`."""
    return "(" + " AND ".join(GUARD_SQL[guard] for guard in transition(source, target).guards) + ")"


def _checked() -> None:
    for source, target in SWEPT_MOVES:
        move_condition(source, target)  # KeyError: a guard of the table has no SQL here
    for source, target in SWEPT_OBLIGATION_MOVES:
        lifecycle.check_obligation_transition(source, target)


_checked()
MAY_START = move_condition(Stage.SIGNATURE, Stage.ACTIVE)
HAS_ENDED = move_condition(Stage.ACTIVE, Stage.CLOSING)


def policy_of(settings: Settings) -> ReminderPolicy:
    return ReminderPolicy(before_days=settings.reminder_before_days,
                          escalation_days=tuple(settings.reminder_escalation_days))


def level_offsets(policy: ReminderPolicy) -> list[tuple[str, int]]:
    """Each reminder level and its trigger day relative to the due date (before = -7 ...)."""
    origin = dt.date(2000, 1, 1)
    return [(name, (trigger - origin).days) for name, trigger in reminder_schedule(origin, policy)]


def template_for(level: str) -> str:
    if level == DUE:
        return "reminder_due"
    return "reminder_before" if level.startswith("before") else "reminder_late"
