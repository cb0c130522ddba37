"""Who is acting, as the journal records it: the Prefect flow run, or the command line."""
from __future__ import annotations

from prefect.runtime import flow_run


def actor() -> str:
    name = flow_run.get_name() if flow_run.get_id() else None
    return f"prefect:{name}"[:64] if name else "grantflow"  # events.actor is 64 characters


def label_run(authority: str, stage: str) -> None:
    """Tag the current flow run with the grant's authority and stage: the UI filters by them."""
    run_id = flow_run.get_id()
    if not run_id:
        return
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        current = client.read_flow_run(run_id)
        wanted = {f"collectivité:{authority}", f"étape:{stage}"}
        kept = {t for t in current.tags if not t.startswith(("collectivité:", "étape:"))}
        client.update_flow_run(run_id, tags=sorted(kept | wanted))
