"""Reading the provisioned Grafana dashboard: its panels and PromQL expressions."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imgsim_stack.settings import REPO_ROOT

GRAFANA = REPO_ROOT / "infra" / "grafana"


DASHBOARD = GRAFANA / "dashboards" / "ingestion-health.json"


def load_dashboard(path: Path = DASHBOARD) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row holds its panels


def expressions(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of the dashboard, in panel order."""
    return [t["expr"] for p in panels(dashboard) for t in p.get("targets", [])]
