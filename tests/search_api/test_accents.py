"""Filters that forgive accents, on the real Elasticsearch (the integration-test distribution,
without the analysis module that folds accents): in the listing, its facets and similar search."""

from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from elasticsearch import Elasticsearch
from imgsim_common.representations import METRICS, REPRESENTATIONS, by_name
from playwright.sync_api import Page

from tests.search_api.fixtures import ApiServer, SearchIndex

pytestmark = pytest.mark.integration

# id -> (artist, title)
ACCENTED = {
    "accents/dali-1.jpg": ("Salvador Dalí", "La Persistència de la Memòria"),
    "accents/dali-2.jpg": ("Salvador Dalí", "Cygnes Réfléchissant des Éléphants"),
    "accents/durer-1.jpg": ("Albrecht Dürer", "Selbstbildnis im Pelzrock"),
    "accents/aero-1.jpg": ("Øystein Ærø", "Straße am Meer"),
    "accents/cafe-1.jpg": ("Jean-Baptiste Greuze", "Le Café, Terrasse"),
    "accents/neo-1.jpg": ("Jean-Baptiste Greuze", "Néo"),
}
STYLE = "Surréalisme"
# A style whose later word is STYLE: a typed "surrealisme" finds it, "same style" must not.
STYLES = {"accents/neo-1.jpg": "Néo-Surréalisme"}


@pytest.fixture(scope="module")
def accented(es: Elasticsearch, search_index: SearchIndex) -> Iterator[dict[str, str]]:
    """The paintings above, added to the test index for the module, then taken out."""
    rng = np.random.default_rng(17)
    for painting_id, (artist, title) in ACCENTED.items():
        vectors = {r.name: rng.standard_normal(r.dims).tolist() for r in REPRESENTATIONS}
        document = {
            "id": painting_id,
            "path": painting_id,
            "metadata": {
                "artist": artist,
                "title": title,
                "style": STYLES.get(painting_id, STYLE),
                "year": 1931,
            },
            "vectors": {n: {m.value: v for m in METRICS} for n, v in vectors.items()},
        }
        es.index(index=search_index.name, id=painting_id, document=document)
        search_index.documents[painting_id] = document
    es.indices.refresh(index=search_index.name)
    yield {painting_id: artist for painting_id, (artist, _) in ACCENTED.items()}
    for painting_id in ACCENTED:
        es.delete(index=search_index.name, id=painting_id)
        del search_index.documents[painting_id]
    es.indices.refresh(index=search_index.name)


def _listed(api: ApiServer, **params: str) -> dict[str, object]:
    response = httpx.get(f"{api.url}/paintings", params={**params, "size": "100"})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def _ids(body: dict[str, object]) -> list[str]:
    paintings = body["paintings"]
    assert isinstance(paintings, list)
    return sorted(p["id"] for p in paintings)


@pytest.mark.parametrize(
    ("typed", "artist"),
    [
        ("dali", "Salvador Dalí"),
        ("DALÍ", "Salvador Dalí"),
        ("salvador d", "Salvador Dalí"),
        ("durer", "Albrecht Dürer"),
        ("Dür", "Albrecht Dürer"),
        ("aero", "Øystein Ærø"),
        ("oystein", "Øystein Ærø"),
        ("baptiste", "Jean-Baptiste Greuze"),
    ],
)
def test_an_artist_typed_without_its_accents_finds_its_paintings(
    api: ApiServer, accented: dict[str, str], typed: str, artist: str
) -> None:
    body = _listed(api, artist=typed)

    assert _ids(body) == sorted(i for i, a in accented.items() if a == artist)
    assert body["total"] == len(_ids(body))
    # The pick-list counts what the filter kept, under the stored spelling.
    assert body["facets"]["artist"] == [  # type: ignore[index]
        {"value": artist, "count": len(_ids(body))}
    ]


def test_styles_and_title_words_forgive_accents_too(
    api: ApiServer, accented: dict[str, str]
) -> None:
    surreal = _listed(api, style="surrealisme")
    cafe = _listed(api, q="cafe terr")
    strasse = _listed(api, q="strasse")

    assert _ids(surreal) == sorted(accented)
    assert _ids(cafe) == ["accents/cafe-1.jpg"]
    assert _ids(strasse) == ["accents/aero-1.jpg"]


def test_similar_search_takes_the_same_forgiving_filters(
    api: ApiServer, accented: dict[str, str]
) -> None:
    by_id = httpx.get(
        f"{api.url}/similar/accents/dali-1.jpg",
        params={"representation": "style", "artist": "durer", "k": "10"},
        headers={"accept": "application/json"},
    )
    style = by_name("style")
    by_vector = httpx.post(
        f"{api.url}/similar",
        json={
            "representation": "style",
            "vector": [0.5] * style.dims,
            "k": 10,
            "filters": {"artist": "DALI"},
        },
        headers={"accept": "application/json"},
    )

    assert by_id.status_code == 200, by_id.text
    assert by_vector.status_code == 200, by_vector.text
    (found_by_id,) = by_id.json()["results"]
    (found_by_vector,) = by_vector.json()["results"]
    assert [h["id"] for h in found_by_id["hits"]] == ["accents/durer-1.jpg"]
    assert sorted(h["id"] for h in found_by_vector["hits"]) == [
        "accents/dali-1.jpg",
        "accents/dali-2.jpg",
    ]


def test_same_style_keeps_the_painting_s_own_style_exactly(
    api: ApiServer, accented: dict[str, str]
) -> None:
    response = httpx.get(
        f"{api.url}/similar/accents/dali-1.jpg",
        params={"representation": "mid", "same_style": "true", "k": "20"},
        headers={"accept": "application/json"},
    )

    assert response.status_code == 200, response.text
    found = [h["id"] for h in response.json()["results"][0]["hits"]]
    assert sorted(found) == sorted(set(accented) - {"accents/dali-1.jpg", *STYLES})


@pytest.mark.browser
def test_the_gallery_finds_an_artist_typed_without_accents(
    api: ApiServer, accented: dict[str, str], page: Page
) -> None:
    dali = sorted(i for i, a in accented.items() if a == "Salvador Dalí")
    page.goto(f"{api.url}/")
    page.wait_for_selector("#results .tile")

    page.fill('input[name="artist"]', "dali")
    page.click("#filters button[type=submit]")

    page.wait_for_function("location.hash.includes('artist=dali')")
    page.wait_for_function(f"document.querySelectorAll('#results .tile').length == {len(dali)}")
    shown = page.eval_on_selector_all("#results .tile", "tiles => tiles.map(t => t.dataset.id)")
    assert sorted(shown) == dali
    assert page.inner_text("#count") == f"{len(dali)} paintings"


def test_a_filter_longer_than_any_name_is_refused(api: ApiServer) -> None:
    response = httpx.get(f"{api.url}/paintings", params={"artist": "x" * 201})

    assert response.status_code == 400
    assert "longer than 200 characters" in response.json()["error"]
