"""The API follows the alias from one model's index to another's while it runs: the
representations it lists and accepts, the index it searches, a painting's vectors and the gallery's
switches. Two indexes made from two cards (`mapping.model_index`), behind an alias of the test's
own, in the real Elasticsearch."""

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import numpy as np
import pytest
from elasticsearch import Elasticsearch
from imgsim_common.model_card import ModelCard
from imgsim_stack.settings import StackSettings
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.search_api.fixtures import ApiServer, card, fill_model_index, start_api
from tests.support import eventually

pytestmark = pytest.mark.integration

TTL_S = 1.0


@dataclass
class SwapRig:
    alias: str
    old: str
    new: str
    cards: dict[str, ModelCard]  # index -> its card
    vectors: dict[str, dict[str, dict[str, list[float]]]]  # index -> id -> name -> vector

    def swap(self, es: Elasticsearch, to: str) -> float:
        """Moves the alias to `to` in one atomic step; returns when (monotonic)."""
        away = self.old if to == self.new else self.new
        es.indices.update_aliases(
            actions=[
                {"remove": {"index": away, "alias": self.alias}},
                {"add": {"index": to, "alias": self.alias}},
            ]
        )
        return time.monotonic()


@pytest.fixture(scope="module")
def swap_rig(stack: StackSettings, es: Elasticsearch) -> Iterator[SwapRig]:
    tag = uuid.uuid4().hex[:8]
    alias, old, new = f"test-swap-{tag}", f"test-swap-{tag}-old", f"test-swap-{tag}-new"
    cards = {
        old: card(f"old{tag}", name="backbone-only"),
        new: card(f"new{tag}", ("trained_shared", 16), ("trained_style", 8), name="trained"),
    }
    try:
        vectors = {
            index: fill_model_index(es, index, made, n)
            for n, (index, made) in enumerate(cards.items())
        }
        es.indices.put_alias(index=old, name=alias)
        yield SwapRig(alias, old, new, cards, vectors)
    finally:
        es.options(ignore_status=404).indices.delete(index=f"{old},{new}")


@pytest.fixture
def swap_api(stack: StackSettings, swap_rig: SwapRig, es: Elasticsearch) -> Iterator[ApiServer]:
    """An API on the rig's alias, which starts (and is left) on the old index."""
    swap_rig.swap(es, swap_rig.old)
    settings = {"SEARCH_API_INDEX_MODEL_TTL_S": str(TTL_S), "SEARCH_API_UPLOAD_ENABLED": "false"}
    server = start_api(stack.elasticsearch, swap_rig.alias, environment=settings)
    yield server
    server.stop()
    swap_rig.swap(es, swap_rig.old)


def trained_style_query(api: ApiServer, rig: SwapRig) -> httpx.Response:
    vector = rig.vectors[rig.new]["swap/painting-03.jpg"]["trained_style"]
    body = {"representation": "trained_style", "vector": vector, "k": 3}
    return httpx.post(f"{api.url}/similar", json=body, timeout=30)


def test_representations_queries_and_vectors_follow_an_alias_swap_without_a_restart(
    swap_api: ApiServer, swap_rig: SwapRig, es: Elasticsearch
) -> None:
    rig, url = swap_rig, swap_api.url
    before = httpx.get(f"{url}/representations").json()
    refused = trained_style_query(swap_api, rig)
    by_id = httpx.get(
        f"{url}/similar/swap/painting-03.jpg", params={"representation": "trained_style"}
    )

    swapped_at = rig.swap(es, rig.new)
    after = eventually(
        lambda: (body := httpx.get(f"{url}/representations").json())["index"] == rig.new and body,
        10,
        "/representations following the swap",
    )
    followed_s = time.monotonic() - swapped_at
    served = trained_style_query(swap_api, rig)
    served_by_id = httpx.get(
        f"{url}/similar/swap/painting-03.jpg", params={"representation": "trained_style", "k": 3}
    )
    painting = httpx.get(f"{url}/paintings/swap/painting-03.jpg", params={"vectors": "true"})
    ready = httpx.get(f"{url}/readyz").json()

    assert [r["name"] for r in before["representations"]] == ["global", "mid", "style"]
    assert before["model"] == rig.cards[rig.old].info.model_dump()
    assert before["index"] == rig.old and before["alias"] == rig.alias
    assert refused.status_code == by_id.status_code == 400
    assert refused.json()["valid"] == ["global", "mid", "style"]

    assert followed_s < TTL_S + 2, followed_s
    assert [r["name"] for r in after["representations"]] == [
        r.name for r in rig.cards[rig.new].representations
    ]
    assert after["model"] == rig.cards[rig.new].info.model_dump()
    assert after["model_from"] == "card" and after["default"] == "trained_shared"
    assert served.status_code == 200, served.text
    assert served.json()["results"][0]["hits"][0]["id"] == "swap/painting-03.jpg"
    assert served_by_id.status_code == 200, served_by_id.text
    assert len(served_by_id.json()["results"][0]["hits"]) == 3
    assert painting.status_code == 200, painting.text
    stored = rig.vectors[rig.new]["swap/painting-03.jpg"]
    got = painting.json()["vectors"]
    assert sorted(got) == sorted(stored)
    for name, vector in stored.items():  # the float32 values sent, read back exactly
        assert np.array_equal(np.array(got[name], np.float32), np.array(vector, np.float32)), name
    assert painting.json()["model"] == rig.cards[rig.new].info.model_dump()
    assert ready["serving"] == rig.new and ready["index"] == rig.alias


def test_search_answers_throughout_swaps_back_and_forth(
    swap_api: ApiServer, swap_rig: SwapRig, es: Elasticsearch
) -> None:
    statuses: list[int] = []
    done = threading.Event()

    def query() -> None:
        with httpx.Client(base_url=swap_api.url, timeout=30) as client:
            while not done.is_set():
                response = client.get(
                    "/similar/swap/painting-05.jpg", params={"representation": "global", "k": 5}
                )
                statuses.append(response.status_code)

    querying = threading.Thread(target=query)
    querying.start()
    try:
        for target in (swap_rig.new, swap_rig.old, swap_rig.new, swap_rig.old):
            swap_rig.swap(es, target)
            time.sleep(TTL_S * 1.5)
    finally:
        done.set()
        querying.join(30)

    assert len(statuses) > 20
    assert set(statuses) == {200}


@pytest.mark.browser
def test_the_gallery_s_switches_follow_a_swap(
    swap_api: ApiServer, swap_rig: SwapRig, es: Elasticsearch, page: Page
) -> None:
    options = "#representation option"
    page.goto(f"{swap_api.url}/#/painting/swap/painting-01.jpg")
    page.wait_for_selector("#similar[data-shown='global/cosine'] .tile")
    before = page.eval_on_selector_all(options, "all => all.map(o => o.value)")

    swap_rig.swap(es, swap_rig.new)
    time.sleep(TTL_S * 1.5)
    page.click("text=Gallery")
    page.wait_for_selector(".grid .tile")
    page.goto(f"{swap_api.url}/#/painting/swap/painting-02.jpg")
    try:
        page.wait_for_selector("#similar[data-shown='trained_shared/cosine'] .tile")
    except PlaywrightTimeoutError:
        raise AssertionError(f"not shown; the page holds: {page.inner_html('#view')}") from None
    after = page.eval_on_selector_all(options, "all => all.map(o => o.value)")
    page.select_option("#representation", "trained_style")
    page.wait_for_selector("#similar[data-shown='trained_style/cosine'] .tile")

    assert before == ["global", "mid", "style"]
    assert after == ["global", "mid", "style", "trained_shared", "trained_style"]
