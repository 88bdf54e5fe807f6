"""`exact=true` through the real search API and Elasticsearch equals numpy's brute force, ids
and scores, for every representation, metric and `index_options` kind the product offers, ties
broken by id."""

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest
from elasticsearch import Elasticsearch
from elasticsearch.helpers import bulk
from imgsim_common import mapping
from imgsim_common.representations import METRICS, REPRESENTATIONS, Metric, vector_field
from imgsim_stack.settings import StackSettings

from tests.search_api.fixtures import ApiServer, start_api

pytestmark = pytest.mark.integration

PAINTINGS = 400
K = 10
# Six paintings share one vector: indexed in reverse order of their ids, so that
# Elasticsearch's own tie order (by internal document number) is not the ids' order.
TWINS = [f"exact/painting-{i:04d}.jpg" for i in range(PAINTINGS - 6, PAINTINGS)]
# float32 sums of up to 960 products, against float64: the scores agree this closely.
SCORE_TOLERANCE = 2e-6

Vectors = dict[str, npt.NDArray[np.float32]]


def painting_vectors() -> tuple[list[str], Vectors]:
    """Clustered vectors (a few directions plus noise, as embeddings are), so that many
    neighbours are close and a quantized score orders them wrongly."""
    rng = np.random.default_rng(12)
    ids = [f"exact/painting-{i:04d}.jpg" for i in range(PAINTINGS)]
    vectors: Vectors = {}
    for r in REPRESENTATIONS:
        centres = rng.standard_normal((8, r.dims))
        values = centres[rng.integers(0, 8, PAINTINGS)] + 0.35 * rng.standard_normal(
            (PAINTINGS, r.dims)
        )
        values[-len(TWINS) :] = values[-len(TWINS)]
        vectors[r.name] = values.astype(np.float32)
    return ids, vectors


def brute_force(
    vectors: npt.NDArray[np.float32], query: npt.NDArray[np.float32], metric: Metric
) -> npt.NDArray[np.float64]:
    """Elasticsearch's scores, in float64: (1 + cosine) / 2 and 1 / (1 + squared distance)."""
    stored, asked = vectors.astype(np.float64), query.astype(np.float64)
    if metric == Metric.COSINE:
        cosine = stored @ asked / (np.linalg.norm(stored, axis=1) * np.linalg.norm(asked))
        return np.asarray((1 + cosine) / 2)
    return np.asarray(1 / (1 + ((stored - asked) ** 2).sum(axis=1)))


def expected_hits(
    ids: list[str], scores: npt.NDArray[np.float64], k: int, leave_out: str | None = None
) -> list[tuple[str, float]]:
    ranked = sorted(
        ((ids[i], float(scores[i])) for i in range(len(ids)) if ids[i] != leave_out),
        key=lambda hit: (-hit[1], hit[0]),
    )
    return ranked[:k]


def assert_brute_force(
    got: list[dict[str, Any]], expected: list[tuple[str, float]], scores: dict[str, float]
) -> None:
    assert len(got) == len(expected)
    for position, (hit, (want_id, want_score)) in enumerate(zip(got, expected, strict=True)):
        assert abs(hit["score"] - scores[hit["id"]]) <= SCORE_TOLERANCE, (position, hit)
        # Another painting is right only where brute force cannot tell the two apart.
        if hit["id"] != want_id:
            assert abs(scores[hit["id"]] - want_score) <= SCORE_TOLERANCE, (position, hit)


@pytest.fixture(scope="module")
def corpus() -> tuple[list[str], Vectors]:
    return painting_vectors()


@pytest.fixture(scope="module", params=mapping.INDEX_OPTIONS)
def exact_index(
    request: pytest.FixtureRequest,
    stack: StackSettings,
    es: Elasticsearch,
    corpus: tuple[list[str], Vectors],
) -> Iterator[tuple[str, ApiServer]]:
    kind = request.param
    name = f"test-exact-{kind.replace('_', '-')}-{uuid.uuid4().hex[:8]}"
    es.indices.create(index=name, mappings=mapping.mappings(index_options=kind))
    ids, vectors = corpus
    fields = mapping.sink_vector_fields(kind)

    def documents() -> Iterator[dict[str, Any]]:
        for i in reversed(range(len(ids))):
            yield {
                "_index": name,
                "_id": ids[i],
                "_source": {
                    "id": ids[i],
                    "metadata": {"title": f"Painting {i}"},
                    # What the sink writes: the vector once per field the mapping has.
                    "vectors": {n: {f: v[i].tolist() for f in fields} for n, v in vectors.items()},
                },
            }

    try:
        # Two segments, each indexed in reverse id order.
        bulk(es, documents(), chunk_size=200, refresh=True)
        server = start_api(
            stack.elasticsearch, name, environment={"SEARCH_API_UPLOAD_ENABLED": "false"}
        )
        yield name, server
        server.stop()
    finally:
        es.indices.delete(index=name)


@pytest.mark.parametrize("metric", METRICS)
def test_exact_neighbours_of_a_painting_are_brute_forces(
    exact_index: tuple[str, ApiServer], corpus: tuple[list[str], Vectors], metric: Metric
) -> None:
    _, server = exact_index
    ids, vectors = corpus
    for query in (3, 77, 250, PAINTINGS - 1):
        response = httpx.get(
            f"{server.url}/similar/{ids[query]}",
            params={"representation": "all", "metric": metric.value, "k": K, "exact": "true"},
            headers={"accept": "application/json"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        blocks = {block["representation"]: block for block in response.json()["results"]}
        assert set(blocks) == {r.name for r in REPRESENTATIONS}
        for r in REPRESENTATIONS:
            scores = brute_force(vectors[r.name], vectors[r.name][query], metric)
            expected = expected_hits(ids, scores, K, leave_out=ids[query])
            by_id = dict(zip(ids, scores.tolist(), strict=True))
            assert_brute_force(blocks[r.name]["hits"], expected, by_id)


@pytest.mark.parametrize("metric", METRICS)
def test_an_exact_search_by_vector_is_brute_force_too(
    exact_index: tuple[str, ApiServer], corpus: tuple[list[str], Vectors], metric: Metric
) -> None:
    _, server = exact_index
    ids, vectors = corpus
    name = REPRESENTATIONS[0].name
    query = vectors[name][123] + 0.01
    response = httpx.post(
        f"{server.url}/similar",
        json={
            "representation": name,
            "metric": metric.value,
            "vector": query.tolist(),
            "k": K,
            "exact": True,
        },
        headers={"accept": "application/json"},
        timeout=30,
    )

    assert response.status_code == 200, response.text
    scores = brute_force(vectors[name], query, metric)
    by_id = dict(zip(ids, scores.tolist(), strict=True))
    (block,) = response.json()["results"]
    assert_brute_force(block["hits"], expected_hits(ids, scores, K), by_id)


@pytest.mark.parametrize("metric", METRICS)
def test_paintings_tied_with_the_kth_are_chosen_by_id(
    exact_index: tuple[str, ApiServer], metric: Metric
) -> None:
    """The last twin's neighbours are the five others, all at one score: the first three by
    id are kept, whatever order Elasticsearch found them in."""
    _, server = exact_index
    response = httpx.get(
        f"{server.url}/similar/{TWINS[-1]}",
        params={"representation": "all", "metric": metric.value, "k": 3, "exact": "true"},
        headers={"accept": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    for block in response.json()["results"]:
        assert [hit["id"] for hit in block["hits"]] == TWINS[:3], block["representation"]
        assert len({hit["score"] for hit in block["hits"]}) == 1


def test_without_the_exact_copy_a_quantized_field_is_not_brute_force(
    exact_index: tuple[str, ApiServer], es: Elasticsearch, corpus: tuple[list[str], Vectors]
) -> None:
    """What the copies are for: the field itself, searched with every candidate, scores
    otherwise than brute force on a quantized kind (this is how the test would fail)."""
    name, _ = exact_index
    kind = es.indices.get_mapping(index=name)[name]["mappings"]["properties"]["vectors"][
        "properties"
    ]["global"]["properties"]["cosine"]["index_options"]["type"]
    if not kind.startswith(("int8", "int4")):
        pytest.skip(f"{kind} scores float vectors")
    ids, vectors = corpus
    query = vectors["global"][5]
    body = {
        "knn": {
            "field": vector_field("global", Metric.COSINE),
            "query_vector": query.tolist(),
            "k": K,
            "num_candidates": PAINTINGS,
        },
        "size": K,
        "_source": False,
    }
    hits = es.search(index=name, body=body)["hits"]["hits"]
    scores = dict(
        zip(ids, brute_force(vectors["global"], query, Metric.COSINE).tolist(), strict=True)
    )
    worst = max(abs(hit["_score"] - scores[hit["_id"]]) for hit in hits)
    assert worst > SCORE_TOLERANCE
