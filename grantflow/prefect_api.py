"""What `grantflow up` asks the local Prefect server, over its REST API with the standard
library (the stack imports neither Prefect's client nor its settings)."""
from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request


def api_healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def served_deployments(api_url: str, since: dt.datetime | None = None) -> set[str]:
    """Names of the deployments the API knows, unpaused and (if `since`) applied since then.

    A deployment served by an earlier start is already there: only its update by the new
    serve process says that this one has registered it and resumed its schedules.
    """
    request = urllib.request.Request(f"{api_url}/deployments/filter", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            deployments = json.load(response)
        return {d["name"] for d in deployments if not d["paused"] and (
            since is None or dt.datetime.fromisoformat(d["updated"].replace("Z", "+00:00")) >= since)}
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError, AttributeError):
        return set()


def create_run(api_url: str, deployment: str, body: dict[str, object]) -> None:
    """A run of `deployment` ("flow/deployment"), as the UI's Run button creates it."""
    with urllib.request.urlopen(f"{api_url}/deployments/name/{deployment}", timeout=5) as response:
        deployment_id = json.load(response)["id"]
    request = urllib.request.Request(f"{api_url}/deployments/{deployment_id}/create_flow_run",
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5):
        pass
