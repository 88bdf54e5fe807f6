"""The service's HTTP interface and its loop, on stand-ins for Kafka, Connect and Elasticsearch."""

import re
import time

import httpx
from imgsim_indexer_check.app import create_app
from imgsim_indexer_check.checker import Checker
from imgsim_indexer_check.report import Report

from tests.indexer_check.fakes import Components, checker
from tests.support import eventually, serving


def test_health_answers_200_while_ok_and_503_once_a_component_fails() -> None:
    components = Components()
    made, _, _ = checker(components, poll_interval_s=0.05, vectorizer_window=None, sink_window=None)

    with serving(create_app(made.settings, made)) as url, httpx.Client(base_url=url) as client:
        healthy = client.get("/health")
        assert healthy.status_code == 200
        assert healthy.headers["content-type"] == "application/json"
        assert healthy.json()["state"] == "OK"

        components.connector_state = "FAILED"

        def unhealthy() -> httpx.Response | None:
            response = client.get("/health")
            return response if response.status_code == 503 else None

        body = eventually(unhealthy, timeout_s=5).json()
        assert body["state"] == "ERR"
        assert "the connector FAILED" in body["reason"]

        components.connector_state = "RUNNING"
        eventually(lambda: client.get("/health").status_code == 200, timeout_s=5)


def test_metrics_are_served_in_prometheus_text_format() -> None:
    made, _, _ = checker(Components())

    with serving(create_app(made.settings, made)) as url, httpx.Client(base_url=url) as client:
        response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'imgsim_indexer_check_leg_status{leg="1"} 0.0' in response.text


class Faulty(Checker):
    """A checker whose polls raise (a bug in it) until `healed`."""

    healed = False
    attempts = 0

    async def poll(self) -> Report:
        self.attempts += 1
        if not self.healed and self.attempts > 1:
            raise RuntimeError("a bug")
        return await super().poll()


def test_the_loop_survives_a_failing_poll_and_counts_it() -> None:
    made, reader, _ = checker(
        Components(), poll_interval_s=0.05, vectorizer_window=None, sink_window=None
    )
    faulty = Faulty(made.settings, reader=reader, http=made.http, clock=time.time)

    with (
        serving(create_app(faulty.settings, faulty)) as url,
        httpx.Client(base_url=url) as client,
    ):
        eventually(lambda: faulty.attempts >= 4, timeout_s=5)
        # The last good report is still served; the failures are counted.
        assert client.get("/health").status_code == 200
        metrics = client.get("/metrics").text
        counted = re.search(r'poll_errors_total\{component="checker"\} (\S+)', metrics)
        assert counted is not None and float(counted[1]) >= 2
        assert client.get("/healthz").status_code == 200

        faulty.healed = True
        before = faulty.attempts
        eventually(lambda: faulty.attempts > before + 2, timeout_s=5)
        report_time = client.get("/health").json()["checked_at"]
        time.sleep(0.2)
        assert client.get("/health").json()["checked_at"] != report_time
