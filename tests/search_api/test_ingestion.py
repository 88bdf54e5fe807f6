"""`/ingestion/health` and `/ingestion/history`: the consistency checker's answers relayed as they
came, and a plain 503 (never a 500) when it cannot be asked. The checker here is a stand-in
server on a real port; the API is served by uvicorn in a thread (no Elasticsearch needed)."""

import asyncio
import contextlib
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from imgsim_search_api import ingestion
from imgsim_search_api.app import create_app
from imgsim_search_api.settings import SearchApiSettings
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from tests.support import free_port, serving

STALLED = {
    "state": "STALL",
    "reason": "leg 2 (paintings -> index) STALL: committed offsets do not move",
    "legs": [{"leg": 2, "state": "STALL", "lag": 41}],
    "reconciliation": None,
}
HISTORY = {"interval_s": 2.0, "points": [{"t": 1.5, "state": "OK", "legs": {"1": {"lag": 3}}}]}


class StandInChecker:
    """Answers /health with whatever the test sets, as the checker does (200 or 503, JSON)."""

    def __init__(self) -> None:
        self.status = 200
        self.report: dict[str, Any] = {"state": "OK", "reason": "every leg is OK"}
        self.delay_s = 0.0

    async def health(self, request: Request) -> Response:
        await asyncio.sleep(self.delay_s)
        return JSONResponse(self.report, self.status)

    async def history(self, request: Request) -> Response:
        return JSONResponse(HISTORY)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/health", self.health), Route("/history", self.history)])


@pytest.fixture(scope="module")
def checker() -> Iterator[tuple[StandInChecker, str]]:
    stand_in = StandInChecker()
    with serving(stand_in.app()) as url:
        yield stand_in, url


@contextlib.contextmanager
def api(checker_url: str) -> Iterator[httpx.Client]:
    settings = SearchApiSettings(checker_url=checker_url, upload_enabled=False)
    with serving(create_app(settings)) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield client


def test_the_report_is_relayed_as_it_came_status_included(
    checker: tuple[StandInChecker, str],
) -> None:
    stand_in, url = checker
    stand_in.status, stand_in.report = 200, {"state": "OK", "reason": "every leg is OK"}
    with api(url) as client:
        healthy = client.get("/ingestion/health")
        stand_in.status, stand_in.report = 503, STALLED
        stalled = client.get("/ingestion/health")
        history = client.get("/ingestion/history")

    assert healthy.status_code == 200
    assert healthy.json() == {"state": "OK", "reason": "every leg is OK"}
    assert healthy.headers["content-type"] == "application/json"
    assert healthy.headers["cache-control"] == "no-store"
    # A stalled pipeline is still a report: the checker's 503 and its body, not an error.
    assert stalled.status_code == 503
    assert stalled.json() == STALLED
    assert history.status_code == 200
    assert history.json() == HISTORY


def test_a_checker_that_is_not_there_is_a_plain_503() -> None:
    away = f"http://127.0.0.1:{free_port()}"
    with api(away) as client:
        health = client.get("/ingestion/health")
        history = client.get("/ingestion/history")

    for response in (health, history):
        assert response.status_code == 503
        body = response.json()
        assert body["error"] == f"the consistency checker at {away} cannot be reached"
        assert body["reason"].startswith("cannot connect")
        assert "python -m imgsim_indexer_check" in body["hint"]
        assert "state" not in body  # what tells the page it is not a report
        assert int(response.headers["retry-after"]) > 0


def test_a_checker_that_does_not_answer_in_time_is_a_503(
    checker: tuple[StandInChecker, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stand_in, url = checker
    monkeypatch.setattr(ingestion, "TIMEOUT_S", 0.5)
    stand_in.delay_s = 2.0
    try:
        with api(url) as client:
            started = time.monotonic()
            response = client.get("/ingestion/health")
            took = time.monotonic() - started
    finally:
        stand_in.delay_s = 0.0

    assert response.status_code == 503
    assert response.json()["reason"] == "no answer within 0.5 s"
    assert took < 1.5


def test_something_else_at_the_checker_s_address_is_a_502_that_says_so() -> None:
    async def page(request: Request) -> Response:
        return HTMLResponse("<h1>Not Found</h1>", 404)

    other = Starlette(routes=[Route("/{anything:path}", page)])
    with serving(other) as url, api(url) as client:
        response = client.get("/ingestion/health")

    assert response.status_code == 502
    assert response.json()["error"] == (
        f"{url}/health answered 404 Not Found, text/html: not the consistency checker's "
        "report; is SEARCH_API_CHECKER_URL the checker's address?"
    )


def test_an_empty_checker_url_switches_the_relay_off() -> None:
    with api("") as client:
        response = client.get("/ingestion/health")

    assert response.status_code == 404
    assert "SEARCH_API_CHECKER_URL is empty" in response.json()["error"]


@pytest.mark.parametrize("value", ["127.0.0.1:9465", "ftp://checker", "http://"])
def test_a_checker_url_that_is_not_http_is_refused_at_start_up(value: str) -> None:
    with pytest.raises(ValidationError, match="is not an http\\(s\\) URL"):
        SearchApiSettings(checker_url=value)


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEARCH_API_CHECKER_URL", "http://checker.example:9465/")
    assert SearchApiSettings().checker_url == "http://checker.example:9465"


def test_the_relayed_routes_are_counted_by_their_own_label() -> None:
    with api(f"http://127.0.0.1:{free_port()}") as client:
        client.get("/ingestion/history")
        metrics = client.get("/metrics").text

    counted = re.search(
        r'imgsim_search_api_requests_total\{route="/ingestion/history",status="503"\} (\S+)',
        metrics,
    )
    assert counted is not None and float(counted[1]) >= 1
