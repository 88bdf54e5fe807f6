"""POST /similar/blend against the real Elasticsearch, on an index of the test's own whose vectors
are placed: a painting near query painting A by style, one near B by subject (`global`), one
fairly near both, and fillers. Weights move the result, the ranking is the weighted sum numpy
computes, a painting fairly near both clauses is found even when it is far down each clause's own
list, and a cap per artist holds, on the blend and on GET /similar/{id}."""

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest
from elasticsearch import Elasticsearch
from elasticsearch.helpers import bulk
from imgsim_common import mapping
from imgsim_common.representations import METRICS, REPRESENTATIONS
from imgsim_search_api.blend import BLEND_QUERY_FIELDS, CLAUSE_FIELDS, CLAUSE_KINDS
from imgsim_stack.settings import StackSettings

from tests.search_api.fixtures import ApiServer, start_api

pytestmark = pytest.mark.integration

Vector = npt.NDArray[np.float64]
A, B = "blend/query-a.jpg", "blend/query-b.jpg"
NEAR_A, NEAR_B, BOTH = "blend/near-a.jpg", "blend/near-b.jpg", "blend/both.jpg"
MIDDLING = "depth/middling.jpg"
WEIGHTS = "weights"  # the genre of the paintings the weight tests search among
DEPTH = "depth"  # the genre of those the depth test searches among
ARTISTS = ("Ana", "Ben", "Cleo")
STYLES = ("Blended", "Other")


def _unit(vector: Vector) -> Vector:
    return vector / np.linalg.norm(vector)


def _near(rng: np.random.Generator, target: Vector, cosine: float) -> Vector:
    """A unit vector at about `cosine` from `target`."""
    noise = _unit(rng.standard_normal(target.shape))
    noise = _unit(noise - noise.dot(target) * target)
    placed: Vector = cosine * target + np.sqrt(1 - cosine**2) * noise
    return placed


@dataclass
class Placed:
    index: str
    vectors: dict[str, dict[str, Vector]]  # painting id -> representation -> unit vector
    genre: dict[str, str]
    artist: dict[str, str]

    def expected(
        self, clauses: list[tuple[str, str, float]], genre: str, k: int, per_artist: int = 0
    ) -> list[str]:
        """The ids ranked by the weighted sum of (1 + cosine) / 2, the query paintings left out."""
        total = sum(w for _, _, w in clauses)
        queries = {p for p, _, _ in clauses}
        scores: dict[str, float] = {}
        for painting, vectors in self.vectors.items():
            if painting in queries or self.genre[painting] != genre:
                continue
            scores[painting] = sum(
                w / total * (1 + float(vectors[r].dot(self.vectors[p][r]))) / 2
                for p, r, w in clauses
            )
        ranked = sorted(scores, key=lambda p: -scores[p])
        if per_artist:
            seen: dict[str, int] = {}
            capped = []
            for painting in ranked:
                seen[self.artist[painting]] = seen.get(self.artist[painting], 0) + 1
                if seen[self.artist[painting]] <= per_artist:
                    capped.append(painting)
            ranked = capped
        return ranked[:k]


def _place(rng: np.random.Generator) -> tuple[dict[str, dict[str, Vector]], dict[str, str]]:
    dims = {r.name: r.dims for r in REPRESENTATIONS}

    def random() -> dict[str, Vector]:
        return {name: _unit(rng.standard_normal(d)) for name, d in dims.items()}

    vectors: dict[str, dict[str, Vector]] = {}
    genre: dict[str, str] = {}
    for painting in (A, B):
        vectors[painting], genre[painting] = random(), WEIGHTS
    near_a, near_b, both = random(), random(), random()
    near_a["style"] = _near(rng, vectors[A]["style"], 0.97)
    near_b["global"] = _near(rng, vectors[B]["global"], 0.97)
    both["style"] = _near(rng, vectors[A]["style"], 0.6)
    both["global"] = _near(rng, vectors[B]["global"], 0.6)
    for painting, placed in ((NEAR_A, near_a), (NEAR_B, near_b), (BOTH, both)):
        vectors[painting], genre[painting] = placed, WEIGHTS
    for i in range(25):
        vectors[f"blend/filler-{i:02d}.jpg"], genre[f"blend/filler-{i:02d}.jpg"] = random(), WEIGHTS
    # The depth test: 16 paintings nearer A than MIDDLING by style, 16 nearer B by subject, and
    # MIDDLING fairly near both, so that it is 17th in each clause's own list but first by the sum.
    middling = random()
    middling["style"] = _near(rng, vectors[A]["style"], 0.6)
    middling["global"] = _near(rng, vectors[B]["global"], 0.6)
    vectors[MIDDLING], genre[MIDDLING] = middling, DEPTH
    for i in range(40):  # far from both: none of them is among either clause's nearest by chance
        vectors[f"depth/filler-{i:02d}.jpg"], genre[f"depth/filler-{i:02d}.jpg"] = random(), DEPTH
    for i in range(16):
        by_style, by_subject = random(), random()
        by_style["style"] = _near(rng, vectors[A]["style"], 0.7 + i * 0.01)
        by_subject["global"] = _near(rng, vectors[B]["global"], 0.7 + i * 0.01)
        for name, placed in (
            (f"depth/style-{i:02d}.jpg", by_style),
            (f"depth/subject-{i:02d}.jpg", by_subject),
        ):
            vectors[name], genre[name] = placed, DEPTH
    return vectors, genre


@pytest.fixture(scope="module")
def placed(es: Elasticsearch) -> Iterator[Placed]:
    name = f"test-blend-{uuid.uuid4().hex[:8]}"
    es.indices.create(index=name, mappings=mapping.mappings(index_options="flat"))
    vectors, genre = _place(np.random.default_rng(13))
    artist = {p: ARTISTS[n % len(ARTISTS)] for n, p in enumerate(sorted(vectors))}
    style = {p: STYLES[n % 3 == 0] for n, p in enumerate(sorted(vectors))}
    for query in (A, B):
        style[query] = STYLES[0]
    documents = (
        {
            "_index": name,
            "_id": painting,
            "_source": {
                "id": painting,
                "path": painting,
                "metadata": {
                    "title": painting,
                    "artist": artist[painting],
                    "genre": genre[painting],
                    "style": style[painting],
                },
                "vectors": {
                    r: {m.value: v.astype(np.float32).tolist() for m in METRICS}
                    for r, v in by_name.items()
                },
            },
        }
        for painting, by_name in vectors.items()
    )
    bulk(es, documents, refresh=True)
    yield Placed(name, vectors, genre, artist)
    es.indices.delete(index=name)


@pytest.fixture(scope="module")
def blend_api(stack: StackSettings, placed: Placed) -> Iterator[ApiServer]:
    server = start_api(stack.elasticsearch, placed.index)
    yield server
    server.stop()


def blend(
    api: ApiServer, clauses: list[tuple[str, str, float]], **more: Any
) -> list[dict[str, Any]]:
    body = {
        "clauses": [{"painting": p, "representation": r, "weight": w} for p, r, w in clauses],
        "filters": {"genre": WEIGHTS},
        **more,
    }
    response = httpx.post(f"{api.url}/similar/blend", json=body, timeout=30)
    assert response.status_code == 200, response.text
    (block,) = response.json()["results"]
    assert block["representation"] == "blend"
    hits: list[dict[str, Any]] = block["hits"]
    return hits


def _ids(hits: list[dict[str, Any]]) -> list[str]:
    return [hit["id"] for hit in hits]


def test_the_weight_moves_the_result_from_one_clause_s_nearest_to_the_other_s(
    blend_api: ApiServer, placed: Placed
) -> None:
    firsts = {}
    for weight in (1.0, 0.7, 0.5, 0.3, 0.0):
        clauses = [(A, "style", weight), (B, "global", 1 - weight)]
        hits = blend(blend_api, clauses, k=10)
        assert A not in _ids(hits) and B not in _ids(hits)
        expected = placed.expected(clauses, WEIGHTS, 10)
        assert _ids(hits) == expected, weight
        firsts[weight] = hits[0]["id"]
        # The score is the weighted sum of the clauses' scores, each in [0, 1].
        (score,) = [h["score"] for h in hits if h["id"] == expected[0]]
        total = sum(
            w * (1 + float(placed.vectors[expected[0]][r].dot(placed.vectors[p][r]))) / 2
            for p, r, w in clauses
        )
        assert score == pytest.approx(total, abs=1e-4)
    assert firsts == {1.0: NEAR_A, 0.7: NEAR_A, 0.5: BOTH, 0.3: NEAR_B, 0.0: NEAR_B}


def test_clauses_of_one_representation_rank_and_score_by_their_weighted_sum(
    blend_api: ApiServer, placed: Placed
) -> None:
    for weight in (0.2, 0.5):
        clauses = [(A, "style", weight), (B, "style", 1 - weight)]
        hits = blend(blend_api, clauses, k=8)
        assert _ids(hits) == placed.expected(clauses, WEIGHTS, 8)
        for hit in hits:
            total = sum(
                w * (1 + float(placed.vectors[hit["id"]][r].dot(placed.vectors[p][r]))) / 2
                for p, r, w in clauses
            )
            assert hit["score"] == pytest.approx(total, abs=1e-4), hit["id"]


def test_weights_are_shares_and_a_zero_weight_clause_still_leaves_its_painting_out(
    blend_api: ApiServer,
) -> None:
    halves = blend(blend_api, [(A, "style", 0.5), (B, "global", 0.5)], k=5)
    sevens = blend(blend_api, [(A, "style", 7), (B, "global", 7)], k=5)
    assert _ids(halves) == _ids(sevens)
    assert [h["score"] for h in halves] == pytest.approx([h["score"] for h in sevens])

    only_a = blend(blend_api, [(A, "style", 1), (B, "global", 0)], k=5)
    plain = httpx.get(
        f"{blend_api.url}/similar/{A}",
        params={"representation": "style", "k": 6, "genre": WEIGHTS},
        timeout=30,
    ).json()["results"][0]["hits"]
    assert _ids(only_a) == [i for i in _ids(plain) if i != B][:5]


def test_a_painting_fairly_near_both_is_found_though_far_down_each_clause_s_list(
    blend_api: ApiServer, placed: Placed
) -> None:
    clauses = [(A, "style", 0.5), (B, "global", 0.5)]
    by_style = httpx.get(
        f"{blend_api.url}/similar/{A}",
        params={"representation": "style", "k": 20, "genre": DEPTH},
        timeout=30,
    ).json()["results"][0]["hits"]
    assert _ids(by_style).index(MIDDLING) >= 16, "behind every painting placed nearer by style"

    hits = blend(blend_api, clauses, k=3, filters={"genre": DEPTH})
    assert hits[0]["id"] == MIDDLING
    assert _ids(hits) == placed.expected(clauses, DEPTH, 3)
    # Each score is the whole weighted sum, also for a painting only one clause gathered (the
    # nearest by style is far from B by subject, and not among B's nearest).
    for hit in hits:
        total = sum(
            w * (1 + float(placed.vectors[hit["id"]][r].dot(placed.vectors[p][r]))) / 2
            for p, r, w in clauses
        )
        assert hit["score"] == pytest.approx(total, abs=1e-4), hit["id"]


def test_at_most_n_per_artist_on_the_blend_and_on_similar_by_id(
    blend_api: ApiServer, placed: Placed
) -> None:
    clauses = [(A, "style", 0.6), (B, "global", 0.4)]
    for cap in (1, 2):
        hits = blend(blend_api, clauses, k=6, per_artist=cap)
        artists = [h["metadata"]["artist"] for h in hits]
        assert max(artists.count(a) for a in artists) <= cap
        assert _ids(hits) == placed.expected(clauses, WEIGHTS, 6, per_artist=cap)
    assert len(blend(blend_api, clauses, k=6, per_artist=1)) == len(ARTISTS)

    def similar(**params: Any) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{blend_api.url}/similar/{A}",
            params={"representation": "style", "genre": WEIGHTS, **params},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["results"][0]["hits"]
        return found

    everyone = similar(k=40)
    capped = similar(k=5, per_artist=1)
    firsts: dict[str, str] = {}
    for hit in everyone:
        firsts.setdefault(hit["metadata"]["artist"], hit["id"])
    assert _ids(capped) == [h["id"] for h in everyone if h["id"] in firsts.values()]
    assert httpx.get(f"{blend_api.url}/similar/{A}", params={"per_artist": "0"}).status_code == 400


def test_exclude_artist_and_same_style_apply_to_the_paintings_searched_by(
    blend_api: ApiServer, placed: Placed
) -> None:
    clauses = [(A, "style", 0.5), (B, "global", 0.5)]
    hits = blend(blend_api, clauses, k=10, exclude_artist=True)
    left_out = {placed.artist[A], placed.artist[B]}
    assert hits and not {h["metadata"]["artist"] for h in hits} & left_out

    everyone = blend(blend_api, clauses, k=28)
    assert {h["metadata"]["style"] for h in everyone} == set(STYLES)
    same = blend(blend_api, clauses, k=10, same_style=True)
    assert _ids(same) == [h["id"] for h in everyone if h["metadata"]["style"] == STYLES[0]][:10]


def test_vectors_blend_with_paintings_and_the_answer_streams(
    blend_api: ApiServer, placed: Placed
) -> None:
    body = {
        "clauses": [
            {"vector": placed.vectors[A]["style"].tolist(), "representation": "style"},
            {"painting": B, "representation": "global", "weight": 1},
        ],
        "k": 4,
        "filters": {"genre": WEIGHTS},
    }
    with httpx.stream(
        "POST",
        f"{blend_api.url}/similar/blend",
        json=body,
        headers={"Accept": "application/x-ndjson"},
        timeout=30,
    ) as response:
        assert response.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in response.iter_lines() if line]
    head, block = lines
    assert head["query"]["blend"][0] == {"representation": "style", "weight": 1.0, "vector": True}
    assert list(head["query"]["paintings"]) == [B]
    assert block["clauses"][1]["share"] == 0.5
    # A is searched by its vector, not by its id: it is not left out.
    expected = placed.expected([(A, "style", 1), (B, "global", 1)], WEIGHTS, 5)
    found = [h["id"] for h in block["hits"]]
    assert A in found and [i for i in found if i != A] == expected[:3]

    events = httpx.post(
        f"{blend_api.url}/similar/blend",
        json=body,
        headers={"Accept": "text/event-stream"},
        timeout=30,
    ).text
    assert events.startswith("event: query") and "event: result" in events
    assert events.rstrip().endswith("event: end\ndata: {}")


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({}, 400, "clauses must be a list"),
        ({"clauses": []}, 400, "clauses must be a list"),
        ({"clauses": [{"painting": A, "representation": "style"}] * 5}, 400, "at most 4"),
        ({"clauses": [{"painting": A, "representation": "colour"}]}, 400, "unknown representation"),
        ({"clauses": [{"painting": A, "representation": "style", "weight": -1}]}, 400, "weight"),
        ({"clauses": [{"painting": A, "representation": "style", "weight": "1"}]}, 400, "weight"),
        ({"clauses": [{"painting": A, "representation": "style", "weight": 0}]}, 400, "weighs 0"),
        ({"clauses": [{"painting": "no/such.jpg", "representation": "style"}]}, 404, "no painting"),
        ({"clauses": [{"representation": "style"}]}, 400, "a painting id, a vector or the upload"),
        ({"clauses": [{"vector": [1.0, 2.0], "representation": "style"}]}, 400, "dimensions"),
        ({"clauses": [{"painting": A, "representation": "style"}], "k": 0}, 400, "k must be"),
        ({"clauses": [{"painting": A, "representation": "style"}], "metric": "dot"}, 400, "metric"),
        ({"clauses": [{"painting": A, "representation": "style"}], "per_artist": 0}, 400, "per_a"),
        ({"clauses": [{"painting": A, "representation": "style"}], "boost": 2}, 400, "'boost'"),
        ({"clauses": [{"painting": A, "representation": "style", "w": 1}]}, 400, "'w'"),
        ([], 400, "must be an object"),
    ],
)
def test_bad_blends_are_refused_with_the_valid_values_never_a_500(
    blend_api: ApiServer, body: Any, status: int, says: str
) -> None:
    response = httpx.post(f"{blend_api.url}/similar/blend", json=body, timeout=30)
    assert response.status_code == status, response.text
    assert says in response.json()["error"]


def test_a_wrong_name_is_answered_with_the_names_that_are_right(blend_api: ApiServer) -> None:
    def refused(body: Any) -> dict[str, Any]:
        response = httpx.post(f"{blend_api.url}/similar/blend", json=body, timeout=30)
        assert response.status_code == 400
        answer: dict[str, Any] = response.json()
        return answer

    clause = {"painting": A, "representation": "colour"}
    assert refused({"clauses": [clause]})["valid"] == [r.name for r in REPRESENTATIONS]
    assert refused({"clauses": [clause], "boost": 1})["valid"] == list(BLEND_QUERY_FIELDS)
    assert refused({"clauses": [{**clause, "w": 1}]})["valid"] == list(CLAUSE_FIELDS)
    assert refused({"clauses": [{"representation": "style"}]})["valid"] == list(CLAUSE_KINDS)


def test_not_a_number_and_not_json_are_refused(blend_api: ApiServer) -> None:
    clause = json.dumps({"painting": A, "representation": "style"})
    nan = '{"clauses": [' + clause[:-1] + ', "weight": NaN}]}'
    for content in (nan, "{not json"):
        response = httpx.post(
            f"{blend_api.url}/similar/blend",
            content=content,
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        assert response.status_code == 400, response.text
