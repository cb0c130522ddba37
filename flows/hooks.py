"""What happens when a per-grant (or per-act) flow run fails: the authority's contact hears of it, once."""
from __future__ import annotations

from prefect.client.schemas.objects import FlowRun
from prefect.flows import Flow
from prefect.logging import get_logger
from prefect.states import State
from sqlalchemy.orm import Session

from core import clock
from db.models import Grant
from db.session import unit_of_work
from domain.errors import RuleViolation
from services import acts, mailing
from services.grants import get_grant

logger = get_logger("grantflow.hooks")


def failure_reason(state: State) -> str:
    """The French message the run failed with, without Prefect's English preamble."""
    message = state.message or "échec sans message"
    return message.split("exception: ", 1)[-1]


def _grant_to_tell(session: Session, reference: str) -> Grant:
    """The grant a run was about; for an act, its first grant (they share the authority)."""
    act = acts.find(session, reference)
    members = acts.grants_of(session, act) if act is not None else []
    return members[0] if members else get_grant(session, reference)


def notify_authority(flow: Flow, flow_run: FlowRun, state: State) -> None:
    """Queue one mail per failed run (keyed by the run id) to the authority of the grant."""
    parameters = flow_run.parameters or {}
    reference = parameters.get("reference") or parameters.get("act")
    if not reference:
        return
    try:
        with unit_of_work() as session:
            grant = _grant_to_tell(session, reference)
            mailing.queue(session, grant, "run_failed", f"run-failed:{flow_run.id}", {
                "flow_name": flow.name, "run_name": flow_run.name, "reason": failure_reason(state),
                "failed_on": clock.today().isoformat(),
            }, day=clock.today(), to_authority=True)
    except RuleViolation:
        logger.warning("Échec de %s : subvention ou acte %r inconnu, personne à prévenir", flow_run.name, reference)


def failure_resolved(flow: Flow, flow_run: FlowRun, state: State) -> None:
    """A run completed after a failure (a Retry of the same run): the failure notice still
    queued is withdrawn, one already sent is followed by a « résolu » mail."""
    with unit_of_work() as session:
        # Grant runs key their notice by the run id; payment runs by its hex (the bank batch).
        for key in (str(flow_run.id), flow_run.id.hex):
            withdrawn, resolved = mailing.failure_resolved(session, key, day=clock.today())
            if withdrawn or resolved:
                logger.info("%s : échec résolu, %d avis retiré(s), %d courriel(s) « résolu » en file",
                            flow_run.name, withdrawn, resolved)
