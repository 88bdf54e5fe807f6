"""The gallery for every reader: plain words, headings, focus, titles, announcements, a phone's
screen, and axe-core (bundled by axe-playwright-python) finding nothing serious, in Chromium."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from elasticsearch import Elasticsearch
from imgsim_stack.settings import StackSettings
from PIL import Image
from playwright.sync_api import Browser, Page, ViewportSize

from tests.search_api.fixtures import (
    ARTISTS,
    DESKTOP,
    PHONE,
    ApiServer,
    SearchIndex,
    opened_page,
    start_api,
)

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PAINTING = "collection/painting-001.jpg"


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    with opened_page(browser, PHONE) as opened:
        yield opened


def serious(page: Page) -> list[str]:
    """axe-core's violations of impact serious or critical, as `rule: how many nodes`."""
    violations = Axe().run(page).response["violations"]
    return [
        f"{v['id']}: {len(v['nodes'])}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_axe_finds_nothing_serious_on_any_view(
    api: ApiServer, browser: Browser, viewport: ViewportSize
) -> None:
    page = browser.new_page(viewport=viewport)
    try:
        for view, ready in (
            ("#/", "#results .tile"),
            (f"#/painting/{PAINTING}", "#similar .tile"),
            ("#/?artist=nobody-at-all", "#results .empty"),
            ("#/painting/no/such.jpg", "h1"),
        ):
            page.goto(f"{api.url}/{view}")
            page.wait_for_selector(ready)
            assert serious(page) == [], view
            assert page.locator("h1").count() == 1, view
    finally:
        page.close()


def test_each_view_has_its_title_and_focus_moves_to_its_heading(api: ApiServer, page: Page) -> None:
    page.goto(f"{api.url}/")
    page.wait_for_selector("#results .tile")
    assert page.title() == "Paintings — imgsim"
    assert page.inner_text("h1") == "Paintings"

    page.click(f'.tile[data-id="{PAINTING}"]')
    page.wait_for_selector("#similar .tile")
    assert page.title() == "Painting 1 — imgsim"
    assert page.evaluate("document.activeElement.tagName") == "H1"
    assert page.evaluate("document.activeElement.textContent") == "Painting 1"

    page.goto(f"{api.url}/#/painting/no/such.jpg")
    page.wait_for_selector("text=Painting not found")
    assert page.title() == "Painting not found — imgsim"
    page.click("text=Back to all paintings")
    page.wait_for_selector("#results .tile")
    assert page.title() == "Paintings — imgsim"


def test_the_skip_link_comes_first_and_leads_into_the_content(api: ApiServer, page: Page) -> None:
    page.goto(f"{api.url}/")
    page.wait_for_selector("#results .tile")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    assert page.is_visible("a.skip")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "view"
    assert page.url.endswith("/"), "the skip link leaves the route alone"


def test_plain_words_labels_links_and_counts(api: ApiServer, page: Page) -> None:
    page.goto(f"{api.url}/#/painting/{PAINTING}")
    page.wait_for_selector("#similar .tile")
    # Labels a person can see, choices named by what they capture.
    assert page.inner_text("label[for=representation]") == "Similar by"
    assert page.inner_text("label[for=metric]") == "Measured as"
    choices = page.eval_on_selector_all("#representation option", "o => o.map(x => x.textContent)")
    assert "What is depicted (global)" in choices
    assert page.eval_on_selector_all("#metric option", "o => o.map(x => x.textContent)") == [
        "Direction (cosine)",
        "Distance (L2)",
    ]
    # Metadata: labels, no internal keys, the year once, no bare scores on the tiles.
    terms = page.eval_on_selector_all("dt", "d => d.map(x => x.textContent)")
    assert terms == ["Artist", "Style", "Year"]
    assert "·" not in page.inner_text("#similar")
    assert "similar paintings" in page.inner_text("#status")

    artist = page.inner_text("dd a >> nth=0")
    assert artist in ARTISTS
    page.click("dd a >> nth=0")
    page.wait_for_function(f"location.hash.includes('artist={artist}')")
    page.wait_for_selector("#results .tile")
    assert page.input_value("#filters input[name=artist]") == artist
    assert page.inner_text("#status").endswith("paintings") or "more to load" in page.inner_text(
        "#status"
    )


def test_tiles_keep_the_paintings_shapes_and_the_page_shows_a_rendition(
    api: ApiServer,
    page: Page,
    phone: Page,
    es: Elasticsearch,
    search_index: SearchIndex,
    image_root: Path,
) -> None:
    wide = "shape/wide.jpg"
    (image_root / "shape").mkdir(exist_ok=True)
    Image.new("RGB", (1200, 600), (120, 90, 60)).save(image_root / wide)
    document = {
        **search_index.documents[PAINTING],
        "id": wide,
        "path": wide,
        "width": 1200,
        "height": 600,
        "metadata": {"artist": "Shape Keeper", "title": "Wide"},
    }
    es.index(index=search_index.name, id=wide, document=document, refresh=True)
    try:
        page.goto(f"{api.url}/#/?artist=Shape Keeper")
        tile = f'.tile[data-id="{wide}"] img'
        page.wait_for_selector(tile)
        box = page.locator(tile).bounding_box()
        assert box and abs(box["width"] / box["height"] - 2) < 0.03
    finally:
        es.delete(index=search_index.name, id=wide, refresh=True)

    phone.goto(f"{api.url}/#/painting/{PAINTING}")
    phone.wait_for_selector("#similar .tile")
    # The browser picks the rendition from the srcset once the image is laid out: wait for it.
    phone.wait_for_function("() => document.querySelector('img.painting')?.currentSrc")
    assert "/thumbnails/" in phone.eval_on_selector("img.painting", "i => i.currentSrc")
    first = phone.locator("#similar .tile").first.bounding_box()
    assert first and first["y"] < PHONE["height"], "similar paintings on the first screen"


def test_an_empty_result_says_so_and_offers_to_clear_the_filters(
    api: ApiServer, page: Page
) -> None:
    page.goto(f"{api.url}/#/?artist=nobody-at-all")
    page.wait_for_selector("#results .empty")
    assert "No paintings match" in page.inner_text("#results")
    assert page.inner_text("#status") == "No paintings match"
    page.click("text=Clear the filters")
    page.wait_for_selector("#results .tile")
    assert page.input_value("#filters input[name=artist]") == ""


def test_on_a_phone_paintings_come_first_in_two_columns_with_sharp_thumbnails(
    api: ApiServer, phone: Page
) -> None:
    phone.goto(f"{api.url}/")
    phone.wait_for_selector("#results .tile img")
    assert not phone.is_visible("#filters"), "the filters wait behind their button"
    first = phone.locator("#results .tile").first.bounding_box()
    second = phone.locator("#results .tile").nth(1).bounding_box()
    assert first and second
    assert first["y"] < PHONE["height"], "the first painting is on the first screen"
    assert second["y"] == first["y"], "at least two paintings a row"
    assert first["width"] + second["width"] < PHONE["width"]
    phone.wait_for_function("document.querySelector('#results .tile img').currentSrc !== ''")
    assert "size=512" in phone.eval_on_selector("#results .tile img", "i => i.currentSrc")

    phone.click(".filters-toggle")
    assert phone.is_visible("#filters")
    small = phone.eval_on_selector_all(
        "button, input, select, nav a",
        "els => els.filter(e => e.offsetParent).map(e => e.getBoundingClientRect())"
        ".filter(r => r.height < 24 || r.width < 24).length",
    )
    assert small == 0, "every target at least 24 px"
    primary = phone.locator("#filters button[type=submit]").bounding_box()
    assert primary and primary["height"] >= 44


def test_without_upload_search_the_gallery_says_so_instead_of_offering_a_box(
    stack: StackSettings, search_index: SearchIndex, image_root: Path, page: Page
) -> None:
    server = start_api(
        stack.elasticsearch,
        search_index.name,
        image_root,
        environment={"SEARCH_API_UPLOAD_ENABLED": "false"},
    )
    try:
        page.goto(f"{server.url}/")
        page.wait_for_selector("#results .tile")
        assert page.locator("#upload").count() == 0
        assert "Search by image is off" in page.inner_text("#no-upload")
    finally:
        server.stop()
