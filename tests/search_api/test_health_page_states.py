"""The gallery's ingestion-health page in Debian's headless Chromium, against a stand-in checker
serving reports built with the checker's own models: a stalled pipeline with documents missing,
then what the checker answers before its first poll."""

import time
from typing import Any

import pytest
from imgsim_indexer_check.evaluator import State
from imgsim_indexer_check.reconcile import Reconciliation
from imgsim_indexer_check.report import ComponentReport, LegReport, Report, summarise
from imgsim_search_api.app import create_app
from imgsim_search_api.settings import SearchApiSettings
from playwright.sync_api import Page
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support import ARTIFACTS, free_port, serving

# Chromium, not the stack: marked so that the unit tier does not ask for a browser.
pytestmark = [pytest.mark.integration, pytest.mark.browser]


def shown(page: Page, selector: str) -> str:
    return page.inner_text(selector).strip()


class StandInChecker:
    """Serves a report built with the checker's own models, so that its shape is the real one."""

    def __init__(self, report: Report, history: list[dict[str, Any]]) -> None:
        self.report: Report | dict[str, Any] = report
        self.history = history

    async def health_endpoint(self, request: Request) -> Response:
        if isinstance(self.report, Report):
            body, status = self.report.model_dump_json(), self.report.http_status
            return Response(body, status, media_type="application/json")
        return JSONResponse(self.report, 503)

    async def history_endpoint(self, request: Request) -> Response:
        return JSONResponse({"interval_s": 2.0, "points": self.history})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/health", self.health_endpoint),
                Route("/history", self.history_endpoint),
            ]
        )


def stalled(now: float) -> tuple[Report, list[dict[str, Any]]]:
    """The sink stuck with 41 records waiting, two documents missing and one extra."""
    leg_1 = LegReport(
        leg=1, name="image paths -> vectorizer", topic="image-paths", group="imgsim-vectorizer",
        state=State.OK, reason="caught up: nothing waiting", lag=0, ingest_rate=0.0,
        catch_up_s=0, seconds_since_progress=1, window_samples=6,
    )  # fmt: skip
    leg_2 = LegReport(
        leg=2, name="paintings -> index", topic="paintings", group="connect-sink",
        state=State.STALL, lag=41, ingest_rate=0.0, catch_up_s=None, seconds_since_progress=95,
        reason="partition 0: the committed offset has not moved for 95 s with 41 records "
        "waiting, while the consumer group holds it; is the connector paused or failing?",
        window_samples=25,
    )  # fmt: skip
    components = [
        ComponentReport(name="kafka", state=State.OK, reason="reachable"),
        ComponentReport(name="connector", state=State.STALL, reason="PAUSED: resume it"),
    ]
    report = summarise([leg_1, leg_2], components, now, 0.2)
    report.reconciliation = Reconciliation(
        finished_at=now - 120, seconds=0.4, published=100, vectorized=100, indexed=57,
        dead_lettered=0, removed=0, pending_vectorizing=0, pending_indexing=41, unresolved=0,
        missing=2, extra=1, stale=0, dead_letters_by_reason={},
        missing_ids=["a.jpg", "b.jpg"], extra_ids=["c.jpg"],
    )  # fmt: skip
    lags = [0, 0, 10, 25, 41, 41, 41]
    history = [
        {
            "t": now - 2 * (len(lags) - i),
            "state": "STALL" if lag == 41 else "OK",
            "legs": {"1": {"state": "OK", "lag": 0, "rate": 0.0}, "2": {"lag": lag, "rate": 0.0}},
        }
        for i, lag in enumerate(lags)
    ]
    return report, history


def test_a_stalled_pipeline_is_shown_as_such_and_a_checker_just_started_too(page: Page) -> None:
    report, history = stalled(time.time())
    stand_in = StandInChecker(report, history)
    # No Elasticsearch behind this API: the page says the index is not ready, and goes on.
    settings = SearchApiSettings(
        elasticsearch_url=f"http://127.0.0.1:{free_port()}", upload_enabled=False
    )
    with serving(stand_in.app()) as checker_url:
        settings = settings.model_copy(update={"checker_url": checker_url})
        with serving(create_app(settings)) as api_url:
            page.set_viewport_size({"width": 390, "height": 844})
            page.goto(f"{api_url}/#/health")
            page.wait_for_selector("#overall[data-state='STALL']")

            assert shown(page, "#overall .badge") == "✕ STALL stuck"
            assert shown(page, ".leg[data-leg='2'] .badge") == "✕ STALL stuck"
            assert "41 records waiting" in shown(page, ".leg[data-leg='2'] .reason")
            assert shown(page, ".leg[data-leg='2'] .facts dd") == "not draining"
            lag = page.get_attribute(".leg[data-leg='2'] svg[data-series='lag']", "aria-label")
            assert lag == "Lag (records waiting) over the last 12 s: now 41, highest 41"
            faults = page.eval_on_selector_all(".count.fault", "ts => ts.map(t => t.dataset.count)")
            assert faults == ["missing", "extra"]
            assert shown(page, ".count[data-count='in flight'] .figure") == "41"
            assert shown(page, "#reconciled").startswith("Last reconciled 2 min ago")
            connector = "#components li[data-component='connector']"
            assert shown(page, f"{connector} .badge") == "✕ STALL stuck"
            assert shown(page, "#readiness").startswith("Search index not ready")
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "health-stalled-390x844.png"), full_page=True)

            # What the checker answers before its first poll has finished.
            stand_in.report = {"state": "ERR", "reason": "no poll has finished yet"}
            stand_in.history = []
            page.wait_for_selector("#overall[data-state='ERR']")
            assert shown(page, "#overall .reason") == "no poll has finished yet"
            assert shown(page, "#reconciled").startswith("Not reconciled yet")
            assert page.locator(".leg, #components").count() == 0
