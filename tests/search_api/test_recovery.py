"""Elasticsearch going away and coming back: 503 with Retry-After, then answers again without
a restart. A switchable TCP forwarder stands between the API and the real Elasticsearch."""

import time

import httpx
import pytest
from imgsim_stack.settings import StackSettings

from tests.search_api.fixtures import SearchIndex, start_api
from tests.search_api.forwarder import Forwarder

pytestmark = pytest.mark.integration


def test_the_api_answers_503_while_elasticsearch_is_away_and_recovers_by_itself(
    stack: StackSettings, search_index: SearchIndex
) -> None:
    forwarder = Forwarder(stack.elasticsearch)
    forwarder.on()
    server = start_api(forwarder.url, search_index.name)
    url = f"{server.url}/similar/collection/painting-007.jpg"
    try:
        assert httpx.get(url, timeout=30).status_code == 200

        forwarder.off()
        away = httpx.get(url, timeout=30)
        ready = httpx.get(f"{server.url}/readyz", timeout=30)

        forwarder.on()
        deadline = time.monotonic() + 30
        while (back := httpx.get(url, timeout=30)).status_code != 200:
            assert time.monotonic() < deadline, back.text
            time.sleep(0.5)
    finally:
        server.stop()
        forwarder.off()

    assert away.status_code == 503 and away.headers["retry-after"] == "5"
    assert ready.status_code == 503
    assert back.json()["results"][0]["hits"]
