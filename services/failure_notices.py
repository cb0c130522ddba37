"""The one place a failed run is told to the authority concerned (the « run_failed » mail).

A grant's (or act's) own run tells its authority from its on_failure hook (flows/hooks.py);
a payment run over all grants tells each authority of its own grants' problems.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy.orm import Session

from core import clock
from db.models import Grant
from services import mailing
from services.grants import get_grant
from services.payment_results import Problem, ProblemKind


def tell_authority(session: Session, grant: Grant, key: str, *, flow_name: str, run_name: str,
                   reason: str) -> None:
    """Queue the mail once per `key` (a run, or a run and a grant)."""
    mailing.queue(session, grant, "run_failed", key, {
        "flow_name": flow_name, "run_name": run_name, "reason": reason, "failed_on": clock.today().isoformat(),
    }, day=clock.today(), to_authority=True)


def tell_of_payment_problems(session: Session, problems: Sequence[Problem], run_id: str, flow_name: str,
                             run_name: str) -> int:
    """One mail per grant concerned, with that grant's reasons. Returns how many were queued."""
    by_reference: dict[str, list[str]] = {}
    kinds: dict[str, set[ProblemKind]] = {}
    for problem in problems:
        by_reference.setdefault(problem.reference, []).append(str(problem))
        kinds.setdefault(problem.reference, set()).add(problem.kind)
    for reference, lines in by_reference.items():
        grant = get_grant(session, reference)
        key = f"run-failed:{run_id}:{reference}"
        if kinds[reference] == {ProblemKind.CONFIGURATION}:
            # The authority's own set-up (its treasury account) fails every run the same way
            # until it is completed: said once, not every working day.
            digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
            key = f"configuration:{grant.authority.code}:{digest}"
        tell_authority(session, grant, key, flow_name=flow_name, run_name=run_name, reason="\n".join(lines))
    return len(by_reference)
