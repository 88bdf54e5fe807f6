"""The gallery's ingestion-health page in Debian's headless Chromium, showing a real checker
(`python -m imgsim_indexer_check`, a child process) that watches a pipeline of the test's own:
what the page shows is what the checker's /health says, the charts are drawn from its history,
and with the checker gone the page says so plainly."""

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from imgsim_common import contract
from playwright.sync_api import Page

from tests.indexer_check.fixtures import CheckRig
from tests.search_api.fixtures import start_api
from tests.support import ARTIFACTS, eventually, free_port

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PUBLISHED, UNREADABLE = 12, 2


@dataclass
class CheckerProcess:
    url: str
    process: subprocess.Popen[bytes]

    def health(self) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"{self.url}/health", timeout=10).json()
        return body

    def history(self) -> list[dict[str, Any]]:
        points: list[dict[str, Any]] = httpx.get(f"{self.url}/history", timeout=10).json()["points"]
        return points

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


@pytest.fixture
def dead_letter_topic(check_rig: CheckRig) -> Iterator[str]:
    """The image paths' dead-letter topic of the test's own (the rig's is the sink's)."""
    topic = f"test-{check_rig.tag}-image-paths-dlq"
    admin = AdminClient({"bootstrap.servers": check_rig.stack.bootstrap_servers})
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(30)
    yield topic
    for future in admin.delete_topics([topic]).values():
        future.result(30)


@pytest.fixture
def checker(check_rig: CheckRig, dead_letter_topic: str) -> Iterator[CheckerProcess]:
    settings = check_rig.settings(
        port=free_port(),
        reconcile_interval_s=2,
        dead_letter_topic=dead_letter_topic,
        sink_dead_letter_topic=check_rig.dead_letter_topic,
    )
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("INDEXER_CHECK_")},
        **check_rig.environment(settings),
    }
    process = subprocess.Popen([sys.executable, "-m", "imgsim_indexer_check"], env=environment)
    started = CheckerProcess(f"http://127.0.0.1:{settings.port}", process)

    def serving() -> bool:
        assert process.poll() is None, "the checker exited"
        try:
            return httpx.get(f"{started.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        eventually(serving, 60, "the checker serving")
        yield started
    finally:
        started.stop()


def dead_letter_what_waits(check_rig: CheckRig, topic: str, reason: str, count: int) -> None:
    """A worker of the vectorizer's group that cannot read the files: each image path waiting
    becomes a dead letter with `reason`, then the offsets are committed (the vectorizer's order)."""
    consumer = Consumer(
        {
            "bootstrap.servers": check_rig.stack.bootstrap_servers,
            "group.id": check_rig.vectorizer_group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    producer = Producer({"bootstrap.servers": check_rig.stack.bootstrap_servers, "acks": "all"})
    consumer.subscribe([check_rig.image_paths_topic])
    lettered = 0
    deadline = time.monotonic() + 60
    try:
        while lettered < count and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=count, timeout=1):
                if message.error() is not None:
                    continue
                value = {"reason": reason, "message": "no such file under the image root"}
                headers: list[tuple[str, str | bytes | None]] = [
                    (contract.REASON_HEADER, reason.encode())
                ]
                producer.produce(topic, key=message.key(), value=json.dumps(value), headers=headers)
                lettered += 1
        assert producer.flush(30) == 0
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    assert lettered == count, f"{lettered} of {count} image paths dead-lettered"


def steady(checker: CheckerProcess) -> dict[str, Any] | None:
    """/health once everything published has its outcome and both legs are OK."""
    report = checker.health()
    reconciliation = report.get("reconciliation") or {}
    done = {
        "published": PUBLISHED + UNREADABLE,
        "indexed": PUBLISHED,
        "dead_lettered": UNREADABLE,
        "pending_vectorizing": 0,
        "pending_indexing": 0,
    }
    legs_ok = [leg["state"] for leg in report.get("legs", [])] == ["OK", "OK"]
    caught_up = all(reconciliation.get(name) == value for name, value in done.items())
    return report if report.get("state") == "OK" and legs_ok and caught_up else None


def shown(page: Page, selector: str) -> str:
    return page.inner_text(selector).strip()


@pytest.mark.slow
def test_the_health_page_shows_the_checker_s_report_in_pictures_and_its_absence_plainly(
    check_rig: CheckRig, checker: CheckerProcess, dead_letter_topic: str, page: Page
) -> None:
    check_rig.publish(PUBLISHED)
    # Nobody consumes yet: a poll sees leg 1's whole lag, so its chart has a peak to draw.
    eventually(
        lambda: any((p["legs"]["1"]["lag"] or 0) == PUBLISHED for p in checker.history()),
        30,
        "a poll that saw leg 1's lag",
    )
    vectorizer = check_rig.vectorizer()
    eventually(lambda: vectorizer.vectorized == PUBLISHED, 60, "every image path vectorized")
    vectorizer.stop()
    check_rig.publish(UNREADABLE, start=PUBLISHED)
    dead_letter_what_waits(check_rig, dead_letter_topic, "missing", UNREADABLE)
    report = eventually(lambda: steady(checker), 120, "both legs OK, everything reconciled")

    api = start_api(check_rig.stack.elasticsearch, check_rig.alias, checker_url=checker.url)
    try:
        page.set_viewport_size({"width": 1440, "height": 900})
        page.goto(f"{api.url}/#/health")
        page.wait_for_selector(".leg[data-leg='2'] svg.sparkline polyline")
        page.wait_for_selector("#counts .count[data-count='indexed']")

        # The states and the reason, as the checker says them (a word on each badge).
        assert page.get_attribute("#overall", "data-state") == report["state"] == "OK"
        assert "OK" in shown(page, "#overall .badge")
        assert shown(page, "#overall .reason") == report["reason"]
        for leg in report["legs"]:
            section = f".leg[data-leg='{leg['leg']}']"
            assert page.get_attribute(section, "data-state") == leg["state"]
            assert shown(page, f"{section} .badge").startswith(f"✓ {leg['state']}")
            assert shown(page, f"{section} .reason") == leg["reason"]
        for component in report["components"]:
            item = f"#components li[data-component='{component['name']}']"
            assert page.get_attribute(f"{item} .badge", "data-state") == component["state"]

        # The counts: the checker's figures, the reasons of the dead letters, when reconciled.
        reconciliation = report["reconciliation"]
        for name in ("published", "vectorized", "indexed", "dead-lettered", "missing", "extra"):
            figure = shown(page, f".count[data-count='{name}'] .figure")
            assert figure == str(reconciliation[name.replace("-", "_")])
        assert shown(page, ".count[data-count='indexed'] .figure") == str(PUBLISHED)
        assert shown(page, ".legend li[data-reason='missing']") == f"missing: {UNREADABLE}"
        assert page.locator(".count.fault").count() == 0  # nothing unresolved, missing, ...
        assert re.fullmatch(
            r"Last reconciled (just now|\d+ s ago) \(took \d+\.\d s\)", shown(page, "#reconciled")
        )
        assert shown(page, "#readiness") == f"Search index {check_rig.alias} is ready"

        # The charts: lines drawn from the history, described in words for those who cannot see
        # them; leg 1's lag peaked at what was published before the vectorizer started.
        charts = page.locator("svg.sparkline")
        assert charts.count() == 4
        for i in range(4):
            chart = charts.nth(i)
            points = (chart.locator("polyline").first.get_attribute("points") or "").split()
            assert len(points) >= 2
            label = chart.get_attribute("aria-label") or ""
            assert chart.get_attribute("role") == "img"
            assert chart.locator("title").text_content() == label
            assert re.search(r"over the last .+: now .+, highest .+", label), label
        lag_1 = page.get_attribute(".leg[data-leg='1'] svg[data-series='lag']", "aria-label")
        assert lag_1 is not None and lag_1.endswith(f"now 0, highest {PUBLISHED}")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "health-1440x900.png"), full_page=True)

        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(300)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(ARTIFACTS / "health-390x844.png"), full_page=True)

        checker.stop()
        page.wait_for_selector("#checker-error", timeout=20_000)
        assert shown(page, "#checker-error p strong") == (
            f"The consistency checker at {checker.url} cannot be reached."
        )
        assert "python -m imgsim_indexer_check" in shown(page, "#checker-error")
        assert page.locator("#overall, .leg, #counts").count() == 0  # no figures left to trust
        assert shown(page, "#health-status") == (
            f"Ingestion health unknown: the consistency checker at {checker.url} cannot be reached"
        )
        assert shown(page, "#readiness") == f"Search index {check_rig.alias} is ready"
        page.screenshot(path=str(ARTIFACTS / "health-checker-away-390x844.png"), full_page=True)
    finally:
        api.stop()
