"""Runs whose process died say so: a Prefect automation marks a flow run Crashed once its
heartbeats stop (kill -9, a machine lost), so that the UI's Retry finds it.

Flow runs started from a deployment send a `prefect.flow-run.heartbeat` event every
PREFECT_FLOWS_HEARTBEAT_FREQUENCY seconds (HEARTBEAT_SECONDS here, set by ./grantflow-up
and for workers). The automation expects, after the run enters Running and after each
heartbeat, another heartbeat or the end of the run within MISSED_HEARTBEATS heartbeats; if
none comes, it sets the run Crashed. Running counts too because the server emits it: a
process killed in its first seconds may never have sent a heartbeat (seen with kill -9).
Prefect's server has no such service of its own: the automation is created once per
server, by ./grantflow-up at each start (idempotent) or `python -m deployments.crashed_runs`.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

AUTOMATION_NAME = "exécutions interrompues : marquées Crashed"
HEARTBEAT_SECONDS = 60  # Prefect's minimum is 30
MISSED_HEARTBEATS = 3  # a run is Crashed about HEARTBEAT_SECONDS * MISSED_HEARTBEATS after its last sign of life
SILENCE = dt.timedelta(seconds=HEARTBEAT_SECONDS * MISSED_HEARTBEATS)


def automation() -> Any:
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    return Automation(
        name=AUTOMATION_NAME,
        description=("Une exécution dont le processus a été tué ou la machine perdue n'envoie plus de signe de vie : "
                     f"elle est marquée Crashed {SILENCE.seconds // 60} minutes après le dernier, pour pouvoir être "
                     "relancée depuis l'interface (Retry)."),
        trigger=EventTrigger(
            after={"prefect.flow-run.Running", "prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Failed",
                    "prefect.flow-run.Cancelled", "prefect.flow-run.Crashed"},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=SILENCE,
        ),
        actions=[ChangeFlowRunState(state=StateType.CRASHED,
                                    message=f"aucun signe de vie depuis {SILENCE.seconds // 60} minutes : processus "
                                            "interrompu (kill, arrêt de la machine) ; relancer avec Retry")],
    )


def ensure() -> Any:
    """The automation on the server named by PREFECT_API_URL: created if missing, brought
    up to date if an earlier version of this module created it differently."""
    from prefect.automations import Automation

    wanted = automation()
    try:
        found = Automation.read(name=AUTOMATION_NAME)
    except ValueError:  # not found
        return wanted.create()
    if (found.trigger, found.actions, found.description) != (wanted.trigger, wanted.actions, wanted.description):
        found.trigger, found.actions, found.description = wanted.trigger, wanted.actions, wanted.description
        found.update()
    return found


def main() -> int:
    found = ensure()
    print(f"Automatisation « {found.name} » en place ({found.id}).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
