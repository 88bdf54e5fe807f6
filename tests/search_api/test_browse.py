"""Browsing, paging, the random sample, images and thumbnails on the real Elasticsearch."""

import io
from typing import Any

import httpx
import pytest
from elasticsearch import Elasticsearch
from PIL import Image

from tests.search_api.fixtures import GENRES, ApiServer, OddFiles, SearchIndex

pytestmark = pytest.mark.integration


def _all_pages(api: ApiServer, **params: Any) -> list[list[str]]:
    pages, after = [], None
    while True:
        query = {**params, **({"after": after} if after else {})}
        response = httpx.get(f"{api.url}/paintings", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([painting["id"] for painting in body["paintings"]])
        after = body["next"]
        if after is None:
            return pages


def test_paging_visits_every_painting_once_in_order(
    api: ApiServer, search_index: SearchIndex
) -> None:
    pages = _all_pages(api, size=7)

    ids = [i for page in pages for i in page]
    assert ids == sorted(search_index.documents)
    assert all(len(page) <= 7 for page in pages)


def test_filters_by_artist_year_and_title_text(api: ApiServer) -> None:
    monet = httpx.get(f"{api.url}/paintings", params={"artist": "Monet", "size": 100}).json()
    years = httpx.get(
        f"{api.url}/paintings", params={"year_from": 1870, "year_to": 1872, "size": 100}
    ).json()
    titled = httpx.get(f"{api.url}/paintings", params={"q": "painting 7"}).json()

    assert monet["paintings"] and {p["metadata"]["artist"] for p in monet["paintings"]} == {"Monet"}
    assert sorted(p["metadata"]["year"] for p in years["paintings"]) == [1870, 1871, 1872]
    assert "Painting 7" in [p["metadata"]["title"] for p in titled["paintings"]]
    assert all("vectors" not in p for p in monet["paintings"])


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"size": "0"}, "size"),
        ({"size": "101"}, "size"),
        ({"after": "bm9wZQ"}, "cursor"),
        ({"year_from": "long ago"}, "year"),
        # Beyond the index's integer field: refused here, not Elasticsearch's error as a 500.
        ({"year_from": "2147483648"}, "from -9999 to 9999"),
        ({"year_to": "-99999999999"}, "from -9999 to 9999"),
    ],
)
def test_bad_listing_parameters_are_refused(
    api: ApiServer, params: dict[str, str], text: str
) -> None:
    response = httpx.get(f"{api.url}/paintings", params=params)

    assert response.status_code == 400
    assert text in response.json()["error"]


def test_a_year_beyond_the_index_is_refused_by_the_random_sample_too(api: ApiServer) -> None:
    response = httpx.get(f"{api.url}/random", params={"year_to": "99999999999"})

    assert response.status_code == 400
    assert "year_to" in response.json()["error"]


def test_a_random_sample_is_repeatable_with_a_seed(api: ApiServer) -> None:
    first = httpx.get(f"{api.url}/random", params={"size": 5, "seed": 42}).json()["paintings"]
    again = httpx.get(f"{api.url}/random", params={"size": 5, "seed": 42}).json()["paintings"]

    assert len(first) == 5
    assert [p["id"] for p in first] == [p["id"] for p in again]


def test_the_original_image_is_served_with_an_etag(
    api: ApiServer, search_index: SearchIndex
) -> None:
    painting_id = "collection/painting-002.jpg"
    response = httpx.get(f"{api.url}/images/{painting_id}")

    assert response.status_code == 200
    etag = response.headers["etag"]
    assert etag == f'"{search_index.documents[painting_id]["sha1"]}"'
    assert "max-age" in response.headers["cache-control"]
    again = httpx.get(f"{api.url}/images/{painting_id}", headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_a_thumbnail_fits_the_size_asked_for(api: ApiServer) -> None:
    response = httpx.get(f"{api.url}/thumbnails/collection/painting-001.jpg", params={"size": 128})

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(response.content)) as thumbnail:
        assert max(thumbnail.size) == 128


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/images/collection/painting-058.jpg", 404),  # its path leads outside the image root
        ("/images/collection/painting-040.jpg", 404),  # indexed, but no file
        ("/images/no/such/painting.jpg", 404),
        ("/thumbnails/collection/painting-001.jpg?size=999", 400),
    ],
)
def test_images_outside_the_root_or_missing_are_never_served(
    api: ApiServer, path: str, status: int
) -> None:
    response = httpx.get(f"{api.url}{path}")

    assert response.status_code == status
    assert "root:" not in response.text


@pytest.mark.parametrize(
    ("typed", "artist"),
    [
        ("monet", "Monet"),
        ("MON", "Monet"),
        ("  degas ", "Degas"),
        ("kept", OddFiles.ARTIST),  # the start of a later word
        ("nobody k", OddFiles.ARTIST),
    ],
)
def test_filters_forgive_case_and_take_the_start_of_a_word(
    api: ApiServer, odd_files: OddFiles, search_index: SearchIndex, typed: str, artist: str
) -> None:
    found = httpx.get(f"{api.url}/paintings", params={"artist": typed, "size": 100}).json()

    expected = sorted(
        i for i, d in search_index.documents.items() if d["metadata"].get("artist") == artist
    )
    assert [p["id"] for p in found["paintings"]] == expected
    assert found["total"] == len(expected)


def test_a_filter_matches_neither_the_middle_of_a_word_nor_wildcards(api: ApiServer) -> None:
    for typed in ("onet", "M*", "?onet"):
        found = httpx.get(f"{api.url}/paintings", params={"artist": typed}).json()
        assert found["paintings"] == [] and found["total"] == 0, typed


@pytest.mark.parametrize(
    ("params", "under"),
    [
        ({}, None),
        ({"style": "realism"}, ("style", "Realism")),
        ({"genre": "life"}, ("genre", "Still Life")),  # the start of the genre's later word
    ],
)
def test_facets_count_what_the_index_holds_under_the_filters(
    api: ApiServer,
    es: Elasticsearch,
    search_index: SearchIndex,
    genred: list[str],
    params: dict[str, str],
    under: tuple[str, str] | None,
) -> None:
    body = httpx.get(f"{api.url}/paintings", params=params).json()
    filtered = [{"term": {f"metadata.{under[0]}": under[1]}}] if under else []
    for field in ("artist", "style", "genre"):
        counted = {f["value"]: f["count"] for f in body["facets"][field]}
        # Every value the paintings left hold, each with the index's own count.
        held = {
            d["metadata"][field]
            for d in search_index.documents.values()
            if field in d["metadata"] and (not under or d["metadata"].get(under[0]) == under[1])
        }
        assert set(counted) == held and held, field
        for value, count in counted.items():
            query = {"bool": {"filter": [{"term": {f"metadata.{field}": value}}, *filtered]}}
            assert es.count(index=search_index.name, query=query)["count"] == count, value
    everything = es.count(index=search_index.name, query={"bool": {"filter": filtered}})["count"]
    assert body["total"] == everything
    if not under:
        assert {f["value"] for f in body["facets"]["genre"]} == set(GENRES)
