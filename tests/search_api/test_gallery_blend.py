"""A painting's page mixes in a second painting (POST /similar/blend) with a slider between the
two, and narrows its results (leave out the artist, only the style, at most N per artist); the
state is in the URL; at desktop and phone sizes, in Debian's headless Chromium."""

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, Request

from tests.search_api.fixtures import ApiServer, SearchIndex

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PAINTING = "collection/painting-001.jpg"


def _shown(page: Page) -> list[str]:
    ids = page.eval_on_selector_all("#similar .tile", "tiles => tiles.map(t => t.dataset.id)")
    return [str(painting_id) for painting_id in ids]


def _hash_params(page: Page) -> dict[str, str]:
    fragment = urlsplit(page.url).fragment
    return {k: v[0] for k, v in parse_qs(fragment.partition("?")[2]).items()}


def _blend(api: ApiServer, other: str, weight: float, **more: Any) -> list[str]:
    body = {
        "clauses": [
            {"painting": PAINTING, "representation": "global", "weight": 1 - weight},
            {"painting": other, "representation": "global", "weight": weight},
        ],
        "metric": "cosine",
        "k": 12,
        **more,
    }
    response = httpx.post(f"{api.url}/similar/blend", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return [hit["id"] for hit in response.json()["results"][0]["hits"]]


def _nearest(api: ApiServer, painting: str, leave_out: str) -> list[str]:
    hits = httpx.get(
        f"{api.url}/similar/{painting}", params={"representation": "global", "k": 13}, timeout=30
    ).json()["results"][0]["hits"]
    return [hit["id"] for hit in hits if hit["id"] != leave_out][:12]


def _settled(page: Page, shown: str) -> None:
    page.wait_for_selector(f"#similar[data-shown='{shown}'][aria-busy='false'] .tile")


def test_mix_with_a_second_painting_and_the_slider_moves_the_results(
    api: ApiServer, sized: Page
) -> None:
    page = sized
    page.goto(f"{api.url}/#/painting/{PAINTING}")
    _settled(page, "global/cosine")
    page.click("#options summary")
    # Offered from this painting's nearest (selectors, not wait_for_function: the policy forbids
    # the eval that needs).
    page.wait_for_selector("#mix option:nth-child(2)", state="attached")
    assert page.is_disabled("#mix-weight"), "no slider before a painting to mix with"
    other = page.eval_on_selector("#mix", "s => s.options[1].value")
    assert other != PAINTING

    page.select_option("#mix", other)
    _settled(page, f"global/cosine+{other}/global@0.5")
    assert _shown(page) == _blend(api, other, 0.5)
    assert _hash_params(page) == {
        "representation": "global",
        "metric": "cosine",
        "mix": other,
        "mixby": "global",
        "w": "0.5",
    }
    assert "paintings mixing Painting 1 and" in page.inner_text("#status")
    assert "Mixing 50% what is depicted of this painting" in page.inner_text("#mix-note")

    asked: list[str] = []

    def record(request: Request) -> None:
        if request.url.endswith("/similar/blend"):
            asked.append(request.post_data or "")

    page.on("request", record)
    page.focus("#mix-weight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    _settled(page, f"global/cosine+{other}/global@0.7")
    page.wait_for_timeout(400)
    assert len(asked) == 1, "the slider searches once it rests, not at every step"
    assert _shown(page) == _blend(api, other, 0.7)
    assert "30% this painting, 70%" in (page.get_attribute("#mix-weight", "aria-valuetext") or "")

    # All the way to one side or the other: the one painting's neighbours, the other left out.
    page.keyboard.press("End")
    _settled(page, f"global/cosine+{other}/global@1")
    toward_other = _shown(page)
    assert toward_other == _nearest(api, other, PAINTING)
    page.keyboard.press("Home")
    _settled(page, f"global/cosine+{other}/global@0")
    toward_this = _shown(page)
    assert toward_this == _nearest(api, PAINTING, other)
    assert toward_this != toward_other

    # The URL brings the mix back: reload, and a link opened elsewhere.
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    _settled(page, f"global/cosine+{other}/global@0.3")
    link, shown = page.url, _shown(page)
    page.reload()
    _settled(page, f"global/cosine+{other}/global@0.3")
    assert page.eval_on_selector("#options", "d => d.open")
    assert page.input_value("#mix") == other
    assert page.input_value("#mix-weight") == "0.3"
    assert _shown(page) == shown
    elsewhere = page.context.new_page()
    try:
        elsewhere.goto(link)
        _settled(elsewhere, f"global/cosine+{other}/global@0.3")
        assert _shown(elsewhere) == shown
    finally:
        elsewhere.close()

    page.select_option("#mix", "")
    _settled(page, "global/cosine")
    assert "mix" not in _hash_params(page)


def test_a_mix_by_id_takes_what_the_second_painting_gives_by_another_representation(
    api: ApiServer, sized: Page
) -> None:
    page = sized
    other = "collection/painting-007.jpg"
    page.goto(f"{api.url}/#/painting/{PAINTING}?representation=style&metric=l2")
    _settled(page, "style/l2")
    page.click("#options summary")
    page.fill("#mix-other", other)
    page.press("#mix-other", "Enter")
    _settled(page, f"style/l2+{other}/global@0.5")
    page.select_option("#mixby", "mid")
    _settled(page, f"style/l2+{other}/mid@0.5")
    body = {
        "clauses": [
            {"painting": PAINTING, "representation": "style", "weight": 0.5},
            {"painting": other, "representation": "mid", "weight": 0.5},
        ],
        "metric": "l2",
        "k": 12,
    }
    expected = httpx.post(f"{api.url}/similar/blend", json=body, timeout=30).json()
    assert _shown(page) == [hit["id"] for hit in expected["results"][0]["hits"]]
    # The option names the painting by its title once the answer has said it.
    assert page.eval_on_selector("#mix", "s => s.selectedOptions[0].textContent").startswith(
        "Painting 7"
    )


def test_leave_out_the_artist_only_the_style_and_at_most_n_per_artist(
    api: ApiServer, sized: Page, search_index: SearchIndex
) -> None:
    page = sized
    metadata = search_index.documents[PAINTING]["metadata"]
    page.goto(f"{api.url}/#/painting/{PAINTING}")
    _settled(page, "global/cosine")
    page.click("#options summary")

    def shown_metadata() -> list[dict[str, Any]]:
        return [search_index.documents[i]["metadata"] for i in _shown(page)]

    page.check("#exclude-artist")
    page.wait_for_selector("#similar[data-asked*='exclude_artist=1'][aria-busy='false'] .tile")
    assert all(m["artist"] != metadata["artist"] for m in shown_metadata())
    page.check("#same-style")
    page.wait_for_selector("#similar[data-asked*='same_style=1'][aria-busy='false'] .tile")
    assert all(
        m["style"] == metadata["style"] and m["artist"] != metadata["artist"]
        for m in shown_metadata()
    )
    page.uncheck("#exclude-artist")
    page.select_option("#per_artist", "1")
    page.wait_for_selector("#similar[data-asked*='per_artist=1'][aria-busy='false'] .tile")
    artists = [m["artist"] for m in shown_metadata()]
    assert len(artists) == len(set(artists)) > 1
    expected = httpx.get(
        f"{api.url}/similar/{PAINTING}",
        params={"representation": "global", "k": 12, "same_style": "true", "per_artist": 1},
        timeout=30,
    ).json()["results"][0]["hits"]
    assert _shown(page) == [hit["id"] for hit in expected]
    assert _hash_params(page) == {
        "representation": "global",
        "metric": "cosine",
        "same_style": "1",
        "per_artist": "1",
    }

    page.reload()
    page.wait_for_selector("#similar[data-asked*='per_artist=1'][aria-busy='false'] .tile")
    assert page.is_checked("#same-style") and not page.is_checked("#exclude-artist")
    assert page.input_value("#per_artist") == "1"
    assert _shown(page) == [hit["id"] for hit in expected]


def test_axe_finds_nothing_serious_with_the_options_open_and_a_mix_shown(
    api: ApiServer, sized: Page
) -> None:
    page = sized
    other = "collection/painting-002.jpg"
    page.goto(f"{api.url}/#/painting/{PAINTING}?mix={other}&mixby=style&w=0.6&per_artist=2")
    _settled(page, f"global/cosine+{other}/style@0.6")
    assert page.eval_on_selector("#options", "d => d.open")
    violations = Axe().run(page).response["violations"]
    serious = [
        f"{v['id']}: {len(v['nodes'])}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == []
    # Every control of the options a finger can hit.
    small = page.eval_on_selector_all(
        "#options summary, #options input, #options select, #options button",
        "els => els.map(e => e.getBoundingClientRect())"
        ".filter(r => r.height < 24 || r.width < 24).length",
    )
    assert small == 0
