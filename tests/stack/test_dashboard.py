"""The provisioned Grafana dashboard, read as Grafana reads it (no Grafana runs here: Debian does
not package it). Its queries are evaluated against a real Prometheus in
tests/integration/test_observability.py."""

import re
from collections.abc import Iterable
from typing import Any

import imgsim_search_api.metrics as search_api_metrics
import imgsim_vectorizer.metrics as vectorizer_metrics
import pytest
import yaml
from imgsim_indexer_check.evaluator import SEVERITY
from imgsim_indexer_check.metrics import CheckerMetrics
from imgsim_stack.prometheus import SCRAPE_INTERVAL, default_prometheus_port
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector

from tests.stack.dashboard import GRAFANA, expressions, load_dashboard, panels

DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
METRIC = re.compile(r"\b(imgsim_[a-z0-9_]+)\b")
# Series suffixes prometheus_client exposes per metric type.
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
}


def exposed_series(collectors: Iterable[Collector]) -> set[str]:
    """The series names the collectors expose, labelled or not, with or without samples yet."""
    names = set()
    for collector in collectors:
        for family in collector.collect():
            names |= {family.name + suffix for suffix in SUFFIXES[family.type]}
    return names


def service_series() -> set[str]:
    module_metrics = [
        value
        for module in (vectorizer_metrics, search_api_metrics)
        for value in vars(module).values()
        if isinstance(value, MetricWrapperBase)
    ]
    checker = CheckerMetrics().registry
    return exposed_series(module_metrics) | exposed_series([checker])


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return load_dashboard()


def test_every_query_names_only_series_a_service_exposes(dashboard: dict[str, Any]) -> None:
    named = {name for expr in expressions(dashboard) for name in METRIC.findall(expr)}

    assert named, "no imgsim series found in the dashboard"
    assert named - service_series() == set()


def test_the_figures_of_ingestion_health_are_all_shown(dashboard: dict[str, Any]) -> None:
    named = {name for expr in expressions(dashboard) for name in METRIC.findall(expr)}
    wanted = {
        f"imgsim_indexer_check_{name}"
        for name in (
            "leg_status",
            "leg_lag",
            "partition_lag",
            "ingest_rate_records_per_second",
            "catch_up_seconds",
            "seconds_since_progress",
            "documents",
            "missing",
            "extra",
            "stale",
            "unresolved",
            "dead_letters",
            "reconciliation_timestamp_seconds",
        )
    } | {
        "imgsim_vectorizer_images_total",
        "imgsim_vectorizer_failures_total",
        "imgsim_search_api_requests_total",
        "imgsim_search_api_request_seconds_bucket",
    }

    assert wanted - named == set()


def test_every_panel_queries_the_provisioned_datasource(dashboard: dict[str, Any]) -> None:
    provisioned = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    uids = {source["uid"] for source in provisioned}

    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] in uids, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] in uids, panel["title"]


def test_the_datasource_is_the_compose_prometheus_at_its_scrape_interval() -> None:
    (source,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]

    assert source["type"] == "prometheus"
    assert source["url"] == f"http://prometheus:{default_prometheus_port()}"
    # Grafana sizes $__rate_interval from it: shorter than the real interval, and rates over
    # a window holding one sample would be empty.
    assert source["jsonData"]["timeInterval"] == SCRAPE_INTERVAL


def test_state_panels_name_the_checkers_state_codes(dashboard: dict[str, Any]) -> None:
    codes = {str(code): state.value for state, code in SEVERITY.items()}
    state_panels = [
        p
        for p in panels(dashboard)
        if any("_status" in t["expr"] for t in p.get("targets", []))
        and "indexer_check" in p["targets"][0]["expr"]
    ]

    assert len(state_panels) >= 3  # overall, per leg, components
    for panel in state_panels:
        (mapping,) = panel["fieldConfig"]["defaults"]["mappings"]
        texts = {value: option["text"] for value, option in mapping["options"].items()}
        assert texts == codes, panel["title"]


def test_panel_ids_are_unique_and_panels_do_not_overlap(dashboard: dict[str, Any]) -> None:
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids))
    taken: set[tuple[int, int]] = set()
    for panel in panels(dashboard):
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells
