"""Who is acting, as the journal records it: the Prefect flow run, or the command line."""
from __future__ import annotations

from prefect.runtime import flow_run


def actor() -> str:
    name = flow_run.get_name() if flow_run.get_id() else None
    return f"prefect:{name}" if name else "grantflow"
