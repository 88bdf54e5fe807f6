"""The representations the API offers and checks are the index's, not a constant: GET
/representations, the names a query may use, the metrics mapped and a vector's dimensions. In
process, with stand-ins for Elasticsearch."""

import asyncio
from typing import Any

import httpx
import pytest
from imgsim_common import mapping
from imgsim_common.representations import REPRESENTATIONS
from imgsim_search_api import parameters
from imgsim_search_api.app import create_app
from imgsim_search_api.errors import RequestError
from imgsim_search_api.settings import SearchApiSettings

from tests.search_api.fixtures import IndexStandIn, card, watching

SETTINGS = SearchApiSettings(upload_enabled=False)
TRAINED = card("abc123", ("trained_shared", 16), ("trained_style", 8))


def trained_index() -> IndexStandIn:
    return IndexStandIn("paintings-model-abc123", mapping.model_index(TRAINED)["mappings"])


class OneHit:
    def __init__(self) -> None:
        self.searched: list[tuple[str, dict[str, Any]]] = []

    async def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        self.searched.append((index, body))
        return {"hits": {"hits": [{"_id": "a.jpg", "_score": 0.9, "_source": {}}]}}


def ask(
    stand_in: IndexStandIn, method: str, path: str, es: OneHit | None = None, **request: Any
) -> httpx.Response:
    app = create_app(SETTINGS)
    app.state.es, app.state.settings = es or OneHit(), SETTINGS
    app.state.index_watch = watching(stand_in)

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.request(method, path, **request)

    return asyncio.run(send())


def test_the_base_index_lists_the_backbone_s_three_and_says_its_model_is_not_known() -> None:
    response = ask(IndexStandIn(), "GET", "/representations")

    assert response.status_code == 200
    body = response.json()
    assert body["representations"] == [
        {
            "name": r.name,
            "dims": r.dims,
            "description": r.description,
            "metrics": ["cosine", "l2"],
            "source": "backbone",
        }
        for r in REPRESENTATIONS
    ]
    assert body["metrics"] == ["cosine", "l2"] and body["default"] == "global"
    assert body["alias"] == "paintings" and body["index"] == "paintings-v1"
    assert body["model"] is None and "no painting yet" in body["model_note"]


def test_a_trained_model_s_index_lists_its_card_s_representations_and_model() -> None:
    body = ask(trained_index(), "GET", "/representations").json()

    names = [r["name"] for r in body["representations"]]
    assert names == ["global", "mid", "style", "trained_shared", "trained_style"]
    assert body["representations"][-1]["source"] == "trained"
    assert body["representations"][-1]["dims"] == 8
    assert body["model"] == {"name": "test-model", "version": "abc123"}
    assert body["model_from"] == "card" and body["index"] == "paintings-model-abc123"
    assert body["default"] == "trained_shared"


def vector_query(name: str, dims: int, metric: str = "cosine") -> dict[str, Any]:
    return {"representation": name, "vector": [0.5] * dims, "metric": metric}


def test_a_trained_representation_is_unknown_to_the_base_index_and_searched_in_its_own() -> None:
    es = OneHit()
    base = ask(IndexStandIn(), "POST", "/similar", json=vector_query("trained_style", 8))
    trained = ask(trained_index(), "POST", "/similar", es, json=vector_query("trained_style", 8))

    assert base.status_code == 400
    assert base.json()["valid"] == ["global", "mid", "style"]
    assert trained.status_code == 200, trained.text
    assert trained.json()["results"][0]["representation"] == "trained_style"
    ((index, body),) = es.searched
    assert index == "paintings-model-abc123"
    assert body["knn"]["field"] == "vectors.trained_style.cosine"


def test_the_dimensions_checked_are_the_index_s() -> None:
    response = ask(trained_index(), "POST", "/similar", json=vector_query("trained_style", 9))

    assert response.status_code == 400
    assert "'trained_style' vector has 8 dimensions, got 9" in response.json()["error"]


def test_all_means_every_representation_of_the_index() -> None:
    response = ask(trained_index(), "GET", "/similar/a.jpg?representation=colour")

    assert response.status_code == 400
    assert response.json()["valid"] == [
        "global",
        "mid",
        "style",
        "trained_shared",
        "trained_style",
        "all",
    ]


def test_a_metric_the_index_does_not_map_for_a_representation_is_a_400() -> None:
    mappings = mapping.mappings()
    del mappings["properties"]["vectors"]["properties"]["mid"]["properties"]["l2"]

    response = ask(
        IndexStandIn(mappings=mappings), "POST", "/similar", json=vector_query("mid", 112, "l2")
    )

    assert response.status_code == 400
    assert response.json()["error"] == (
        "the index maps representation 'mid' for cosine only, not l2"
    )
    assert response.json()["valid"] == ["cosine"]


def test_an_index_that_cannot_be_searched_is_a_503_that_says_why() -> None:
    mappings = mapping.mappings()
    del mappings["properties"]["vectors"]

    response = ask(IndexStandIn(mappings=mappings), "GET", "/representations")

    assert response.status_code == 503
    assert "maps no vectors" in response.json()["error"]
    assert response.headers["retry-after"] == str(SETTINGS.retry_after_s)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (None, []),
        ("false", []),
        ("true", ["global", "mid", "style"]),
        ("all", ["global", "mid", "style"]),
        ("style,global", ["style", "global"]),
    ],
)
def test_a_painting_s_vectors_are_asked_by_true_all_or_names(
    text: str | None, names: list[str]
) -> None:
    chosen = parameters.parse_vectors_option(text, REPRESENTATIONS)

    assert [r.name for r in chosen] == names


def test_an_unknown_name_among_a_painting_s_vectors_is_a_400_with_the_valid_values() -> None:
    with pytest.raises(RequestError, match="vectors: unknown representation 'colour'") as e:
        parameters.parse_vectors_option("global,colour", REPRESENTATIONS)

    assert e.value.status == 400
    assert e.value.details["valid"] == ["global", "mid", "style", "all", "true"]
