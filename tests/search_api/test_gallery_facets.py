"""The gallery's pick-lists (artist, style, genre) offer every value with the count the index
itself gives, with no filter and under one; a painting's page shows its facts once, by their
labels, without the catalogue's bookkeeping; at desktop and phone sizes, in Debian's headless
Chromium."""

from typing import Any

import pytest
from elasticsearch import Elasticsearch
from playwright.sync_api import Page

from tests.search_api.fixtures import GENRES, ApiServer, SearchIndex, open_filters

pytestmark = [pytest.mark.integration, pytest.mark.browser]

FIELDS = ("artist", "style", "genre")


def _offered(page: Page, field: str) -> dict[str, str]:
    """The pick-list of `field`: value -> the label a person reads."""
    options = page.eval_on_selector_all(
        f"#{field}-values option", "o => o.map(x => [x.value, x.label])"
    )
    return {str(value): str(label) for value, label in options}


def _counted(es: Elasticsearch, index: str, *terms: tuple[str, str]) -> int:
    """How many paintings the index holds with every (field, value) of `terms`."""
    query = {"bool": {"filter": [{"term": {f"metadata.{f}": v}} for f, v in terms]}}
    count: int = es.count(index=index, query=query)["count"]
    return count


def _check_pick_lists(
    page: Page,
    es: Elasticsearch,
    index: str,
    shown: list[dict[str, Any]],
    under: tuple[tuple[str, str], ...] = (),
) -> None:
    """Every value of the paintings `shown` (those the filter leaves) is offered, nothing else,
    each labelled with the index's own count under `under` (the filter, as exact terms)."""
    for field in FIELDS:
        offered = _offered(page, field)
        assert set(offered) == {m[field] for m in shown if field in m}, field
        for value, label in offered.items():
            count = _counted(es, index, (field, value), *under)
            assert label == f"{value} ({count})", (field, value)


def test_every_pick_list_option_counts_what_the_index_holds(
    api: ApiServer, sized: Page, es: Elasticsearch, search_index: SearchIndex, genred: list[str]
) -> None:
    page = sized
    page.goto(f"{api.url}/")
    page.wait_for_selector("#results .tile")
    open_filters(page)
    # Each filter offers its pick-list: the genre's too.
    for field in FIELDS:
        assert page.get_attribute(f'#filters input[name="{field}"]', "list") == f"{field}-values"
    everything = [d["metadata"] for d in search_index.documents.values()]
    assert set(_offered(page, "genre")) == set(GENRES)
    _check_pick_lists(page, es, search_index.name, everything)

    # Under a filter (the start of a genre's later word, in lower case) the lists count what is
    # left.
    documents = search_index.documents.values()
    still_life = [d["metadata"] for d in documents if d["metadata"].get("genre") == "Still Life"]
    page.fill('input[name="genre"]', "life")
    page.click("#filters button[type=submit]")
    page.wait_for_function(
        "location.hash.includes('genre=life') && "
        f"document.querySelectorAll('#results .tile').length == {len(still_life)}"
    )
    assert page.inner_text("#count") == f"{len(still_life)} paintings"
    assert _offered(page, "genre") == {"Still Life": f"Still Life ({len(still_life)})"}
    _check_pick_lists(page, es, search_index.name, still_life, (("genre", "Still Life"),))


def test_a_painting_shows_its_facts_once_and_no_bookkeeping(
    api: ApiServer, sized: Page, search_index: SearchIndex, genred: list[str]
) -> None:
    page = sized
    dated, undated = genred[4], genred[8]
    metadata = search_index.documents[dated]["metadata"]
    assert {"date", "year", "source", "size_bytes"} <= set(metadata), "the test's own premise"
    page.goto(f"{api.url}/#/painting/{dated}")
    page.wait_for_selector("#similar .tile")
    terms = page.eval_on_selector_all(".detail dt", "d => d.map(x => x.textContent)")
    assert terms == ["Artist", "Style", "Genre", "Year"], "labelled facts, the year once"
    details = page.eval_on_selector_all(".detail dd", "d => d.map(x => x.textContent)")
    assert details == [metadata["artist"], metadata["style"], metadata["genre"], "1884"]
    text = page.inner_text("#view")
    for hidden in (metadata["source"], str(metadata["size_bytes"]), metadata["date"], "source"):
        assert hidden not in text, hidden

    # A date no year was read from is shown, once.
    page.goto(f"{api.url}/#/painting/{undated}")
    page.wait_for_selector(".detail h1:has-text('Genre 8')")
    terms = page.eval_on_selector_all(".detail dt", "d => d.map(x => x.textContent)")
    assert terms == ["Artist", "Style", "Genre", "Date"]
    assert page.inner_text(".detail dd >> nth=3") == "undated"

    # The genre is a link that filters by it.
    genre = search_index.documents[undated]["metadata"]["genre"]
    page.click(f".detail dd a:has-text('{genre}')")
    expected = sorted(
        i for i, d in search_index.documents.items() if d["metadata"].get("genre") == genre
    )
    page.wait_for_function(f"document.querySelectorAll('#results .tile').length == {len(expected)}")
    tiles = page.eval_on_selector_all("#results .tile", "t => t.map(x => x.dataset.id)")
    assert tiles == expected
    assert page.input_value('#filters input[name="genre"]') == genre
