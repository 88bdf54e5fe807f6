"""The gallery in a real headless Chromium (Debian's), driven by Playwright."""

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page

from tests.search_api.fixtures import ApiServer, OddFiles
from tests.support import ARTIFACTS

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def _shown_ids(page: Page) -> list[str]:
    ids = page.eval_on_selector_all("#similar .tile", "tiles => tiles.map(t => t.dataset.id)")
    return [str(painting_id) for painting_id in ids]


def test_browse_open_a_painting_switch_representation_and_metric_then_upload(
    api: ApiServer, page: Page, image_root: Path
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{api.url}/")
    page.wait_for_selector(".grid .tile")
    assert page.locator(".grid .tile").count() == 24
    page.screenshot(path=str(ARTIFACTS / "gallery-grid.png"))

    page.click('.tile[data-id="collection/painting-001.jpg"]')
    page.wait_for_selector("#similar[data-shown='global/cosine'] .tile")
    assert page.inner_text("h1") == "Painting 1"
    global_cosine = _shown_ids(page)
    expected = httpx.get(
        f"{api.url}/similar/collection/painting-001.jpg",
        params={"k": 12, "representation": "global", "metric": "cosine"},
    ).json()["results"][0]["hits"]
    assert global_cosine == [hit["id"] for hit in expected]

    page.select_option("#representation", "style")
    page.wait_for_selector("#similar[data-shown='style/cosine']")
    style_cosine = _shown_ids(page)
    page.select_option("#metric", "l2")
    page.wait_for_selector("#similar[data-shown='style/l2']")
    style_l2 = _shown_ids(page)
    assert len(style_cosine) == len(style_l2) == 12
    assert style_cosine != global_cosine and style_l2 != style_cosine
    page.screenshot(path=str(ARTIFACTS / "gallery-detail.png"), full_page=True)

    page.click("text=Gallery")
    page.wait_for_selector("#upload")
    page.wait_for_selector("#results .grid .tile")
    page.set_input_files("#upload", str(image_root / "collection" / "painting-003.jpg"))
    page.wait_for_selector("#results h2", timeout=180_000)
    assert "Similar to painting-003.jpg" in page.inner_text("#results h2")
    assert page.locator("#results .tile").count() > 0
    page.screenshot(path=str(ARTIFACTS / "gallery-upload.png"), full_page=True)


def test_a_painting_whose_file_is_gone_or_unreadable_shows_a_placeholder_that_says_so(
    api: ApiServer, page: Page, odd_files: OddFiles
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{api.url}/#/painting/{odd_files.deleted}")
    page.wait_for_selector(".detail .missing-image")
    assert "missing or unreadable" in page.inner_text(".detail .missing-image")
    assert page.locator(".detail img.painting").count() == 0
    page.screenshot(path=str(ARTIFACTS / "gallery-missing-painting.png"))

    page.click("text=Gallery")
    page.fill('input[name="artist"]', OddFiles.ARTIST)
    page.click("#filters button[type=submit]")
    page.wait_for_selector(f'.tile[data-id="{odd_files.fresh}"]')
    for unservable in (odd_files.deleted, odd_files.garbage, odd_files.refused):
        placeholder = f'.tile[data-id="{unservable}"] .missing-image'
        page.wait_for_selector(placeholder)
        assert "missing or unreadable" in page.inner_text(placeholder)
    page.wait_for_function(
        f"document.querySelector('.tile[data-id=\"{odd_files.fresh}\"] img').naturalWidth > 0"
    )
    broken = page.eval_on_selector_all(
        ".grid img", "images => images.filter(i => i.complete && i.naturalWidth === 0).length"
    )
    assert broken == 0
    page.screenshot(path=str(ARTIFACTS / "gallery-missing-tiles.png"))
