"""The gallery shows the latest search only, says when one runs, and keeps its state in the URL
(Back, reload and shared links), at desktop and phone sizes, in Debian's headless Chromium."""

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from imgsim_stack.settings import StackSettings
from playwright.sync_api import Page, Request

from tests.search_api.fixtures import (
    STYLES,
    ApiServer,
    SearchIndex,
    open_filters,
    start_api,
)
from tests.search_api.forwarder import Forwarder
from tests.support import eventually

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PAINTING = "collection/painting-001.jpg"


def _shown(page: Page, area: str = "#similar") -> list[str]:
    ids = page.eval_on_selector_all(f"{area} .tile", "tiles => tiles.map(t => t.dataset.id)")
    return [str(painting_id) for painting_id in ids]


def _hash_params(page: Page) -> dict[str, list[str]]:
    fragment = urlsplit(page.url).fragment
    return parse_qs(fragment.partition("?")[2])


def _similar(api: str, representation: str, metric: str = "cosine") -> list[str]:
    body = httpx.get(
        f"{api}/similar/{PAINTING}",
        params={"k": 12, "representation": representation, "metric": metric},
        timeout=30,
    ).json()
    return [hit["id"] for hit in body["results"][0]["hits"]]


def test_a_slow_answer_loses_to_a_later_choice(
    stack: StackSettings, search_index: SearchIndex, image_root: Path, sized: Page
) -> None:
    page = sized
    # Every query for `mid` is held by the forwarder and never answered: a search that is slow.
    forwarder = Forwarder(stack.elasticsearch, hold=lambda request: b'"vectors.mid.' in request)
    forwarder.on()
    # The held query ends with the API's request timeout: a late answer (an error) that must
    # not replace what the later choice showed.
    server = start_api(forwarder.url, search_index.name, image_root, request_timeout_s=3)
    try:
        page.goto(f"{server.url}/#/painting/{PAINTING}")
        page.wait_for_selector("#similar[data-shown='global/cosine'] .tile")

        page.select_option("#representation", "mid")
        eventually(lambda: len(forwarder.held) == 1, 10, "the mid query held")
        # While it runs, the area says so.
        assert page.get_attribute("#similar", "aria-busy") == "true"
        assert "loading" in (page.get_attribute("#similar", "class") or "")

        page.select_option("#representation", "style")
        page.wait_for_selector("#similar[data-shown='style/cosine']")
        eventually(lambda: forwarder.held[0].closed_at is not None, 10, "the mid query over")
        page.wait_for_timeout(1000)
        assert page.get_attribute("#similar", "data-shown") == "style/cosine"
        assert page.locator("#similar .error").count() == 0
        assert page.get_attribute("#similar", "aria-busy") == "false"
        assert _shown(page) == _similar(server.url, "style")
    finally:
        server.stop()
        forwarder.off()


def test_arrow_keys_on_a_select_start_one_search_not_one_per_step(
    api: ApiServer, sized: Page
) -> None:
    page = sized
    page.goto(f"{api.url}/#/painting/{PAINTING}")
    page.wait_for_selector("#similar[data-shown='global/cosine'] .tile")
    asked: list[str] = []

    def record(request: Request) -> None:
        if "/similar/" in request.url:
            asked.append(request.url)

    page.on("request", record)

    page.focus("#representation")
    for _ in range(2):
        page.keyboard.press("ArrowDown")
    chosen = page.eval_on_selector("#representation", "select => select.value")
    page.wait_for_selector(f"#similar[data-shown='{chosen}/cosine']")
    page.wait_for_timeout(500)

    assert chosen != "global"
    assert len(asked) == 1 and f"representation={chosen}" in asked[0]


def test_a_paintings_view_survives_reload_and_is_a_link(api: ApiServer, sized: Page) -> None:
    page = sized
    page.goto(f"{api.url}/#/painting/{PAINTING}")
    page.wait_for_selector("#similar[data-shown='global/cosine'] .tile")
    page.select_option("#representation", "style")
    page.wait_for_selector("#similar[data-shown='style/cosine']")
    page.select_option("#metric", "l2")
    page.wait_for_selector("#similar[data-shown='style/l2']")
    assert _hash_params(page) == {"representation": ["style"], "metric": ["l2"]}
    link = page.url

    page.reload()
    page.wait_for_selector("#similar[data-shown='style/l2'] .tile")
    assert page.eval_on_selector("#representation", "s => s.value") == "style"
    assert page.eval_on_selector("#metric", "s => s.value") == "l2"
    assert _shown(page) == _similar(api.url, "style", "l2")

    other = page.context.new_page()  # the same size
    try:
        other.goto(link)
        other.wait_for_selector("#similar[data-shown='style/l2'] .tile")
        assert _shown(other) == _shown(page)
    finally:
        other.close()


def test_filters_and_pages_come_back_with_back_and_reload_and_so_does_the_scroll(
    api: ApiServer, sized: Page
) -> None:
    page = sized
    page.goto(f"{api.url}/")
    page.wait_for_selector("#results .grid .tile")
    open_filters(page)
    expected = httpx.get(
        f"{api.url}/paintings", params={"style": STYLES[0], "size": 100}, timeout=30
    ).json()["paintings"]
    assert len(expected) > 24, "the filter must leave more than a page"
    page.fill('input[name="style"]', STYLES[0])
    page.click("#filters button[type=submit]")
    # The URL changes before the view is drawn again: until then the unfiltered tiles are shown.
    eventually(
        lambda: _shown(page, "#results") == [p["id"] for p in expected][:24],
        10,
        "the filtered first page",
    )
    assert f"style={STYLES[0]}" in page.url

    page.click("text=More")
    page.wait_for_function("document.querySelectorAll('#results .tile').length > 24")
    two_pages = _shown(page, "#results")
    shown = len(two_pages)
    assert _hash_params(page) == {"style": [STYLES[0]], "pages": ["2"]}
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_timeout(300)
    scrolled = page.evaluate("window.scrollY")
    assert scrolled > 200

    page.click(f'#results .tile[data-id="{two_pages[-1]}"]')
    page.wait_for_selector("#similar .tile")
    assert page.evaluate("window.scrollY") == 0, "a painting's page opens at its top"
    page.go_back()
    page.wait_for_function(f"document.querySelectorAll('#results .tile').length == {shown}")
    assert page.input_value('input[name="style"]') == STYLES[0]
    assert _shown(page, "#results") == two_pages
    eventually(lambda: abs(page.evaluate("window.scrollY") - scrolled) < 5, 5, "scroll restored")

    page.reload()
    page.wait_for_function(f"document.querySelectorAll('#results .tile').length == {shown}")
    assert _shown(page, "#results") == two_pages
    assert page.input_value('input[name="style"]') == STYLES[0]

    page.go_back()  # before the filter: the unfiltered first page
    page.wait_for_function("!location.hash.includes('style=')")
    page.wait_for_function("document.querySelectorAll('#results .tile').length == 24")
    assert page.input_value('input[name="style"]') == ""


def test_a_lower_case_partial_artist_finds_the_paintings_and_the_count_says_how_many(
    api: ApiServer, sized: Page, search_index: SearchIndex
) -> None:
    page = sized
    monet = sorted(
        i for i, d in search_index.documents.items() if d["metadata"].get("artist") == "Monet"
    )
    page.goto(f"{api.url}/")
    page.wait_for_selector("#results .tile")
    # The pick-list offers the artists with their counts.
    offered = page.eval_on_selector_all("#artist-values option", "o => o.map(x => x.label)")
    assert f"Monet ({len(monet)})" in offered

    open_filters(page)
    page.fill('input[name="artist"]', "mon")
    page.click("#filters button[type=submit]")
    page.wait_for_function("location.hash.includes('artist=mon')")
    page.wait_for_function(f"document.querySelectorAll('#results .tile').length == {len(monet)}")
    assert _shown(page, "#results") == monet
    assert page.inner_text("#count") == f"{len(monet)} paintings"
