"""The neighbour search's knn body and the hits it keeps (imgsim_common.similar)."""

import json

import numpy as np
import pytest
from imgsim_common import similar
from imgsim_common.representations import REPRESENTATIONS, Metric, Representation, by_name

MID = by_name("mid")
VECTOR = [0.5] * MID.dims


def test_searching_by_a_painting_asks_for_one_more_and_carries_no_vectors_back() -> None:
    body = similar.knn_body(MID, Metric.L2, VECTOR, 5, leave_out=["stripes-00.jpg"])

    assert body == {
        "knn": {
            "field": "vectors.mid.l2",
            "query_vector": VECTOR,
            "k": 6,
            "num_candidates": 100,
        },
        "size": 6,
        "_source": {"excludes": ["vectors"]},
    }


@pytest.mark.parametrize(("leave_out", "fetched"), [((), 5), (("a",), 6), (("a", "b"), 7)])
def test_one_more_hit_is_fetched_per_painting_left_out(
    leave_out: tuple[str, ...], fetched: int
) -> None:
    body = similar.knn_body(MID, Metric.COSINE, VECTOR, 5, leave_out=leave_out)

    assert body["knn"]["k"] == body["size"] == fetched


@pytest.mark.parametrize(
    ("k", "asked", "sent"),
    [
        (5, 100, 100),
        (5, 37, 37),
        (50, 10, 51),  # never fewer candidates than hits: Elasticsearch refuses that
        (5, 20_000, similar.MAX_NUM_CANDIDATES),
        (similar.MAX_NUM_CANDIDATES - 1, 10, similar.MAX_NUM_CANDIDATES),
    ],
)
def test_candidates_stay_between_the_hits_fetched_and_elasticsearchs_limit(
    k: int, asked: int, sent: int
) -> None:
    body = similar.knn_body(MID, Metric.COSINE, VECTOR, k, leave_out=["a"], num_candidates=asked)

    assert body["knn"]["num_candidates"] == sent


def test_the_default_is_a_hundred_candidates() -> None:
    assert similar.knn_body(MID, Metric.COSINE, VECTOR, 10)["knn"]["num_candidates"] == 100


@pytest.mark.parametrize("k", [1, similar.MAX_NUM_CANDIDATES - 1])
def test_k_is_accepted_up_to_the_limit_less_the_paintings_left_out(k: int) -> None:
    body = similar.knn_body(MID, Metric.COSINE, VECTOR, k, leave_out=["a"])

    assert body["knn"]["k"] == k + 1


@pytest.mark.parametrize("k", [0, -1, similar.MAX_NUM_CANDIDATES])
def test_k_out_of_range_is_refused(k: int) -> None:
    with pytest.raises(ValueError, match=f"k must be between 1 and 9999, got {k}"):
        similar.knn_body(MID, Metric.COSINE, VECTOR, k, leave_out=["a"])


@pytest.mark.parametrize("representation", REPRESENTATIONS, ids=lambda r: r.name)
def test_a_vector_of_the_representations_dimensions_is_accepted(
    representation: Representation,
) -> None:
    vector = [0.25] * representation.dims

    body = similar.knn_body(representation, Metric.COSINE, vector, 3)

    assert body["knn"]["query_vector"] == vector
    assert body["knn"]["field"] == f"vectors.{representation.name}.cosine"


@pytest.mark.parametrize("dims", [MID.dims - 1, MID.dims + 1, 0])
def test_a_vector_of_other_dimensions_is_refused(dims: int) -> None:
    with pytest.raises(ValueError, match=f"'mid' vector has {MID.dims} dimensions, got {dims}"):
        similar.knn_body(MID, Metric.COSINE, [1.0] * dims, 5)


def test_a_numpy_vector_goes_out_as_plain_json_numbers() -> None:
    vector = np.linspace(-1, 1, MID.dims, dtype=np.float32)

    body = similar.knn_body(MID, Metric.COSINE, vector, 5)

    sent = json.loads(json.dumps(body))["knn"]["query_vector"]
    assert sent == pytest.approx(vector.tolist())


def test_a_filter_is_sent_as_given_and_none_means_no_filter() -> None:
    clause = {"term": {"metadata.source": "imgsim-demo"}}

    assert similar.knn_body(MID, Metric.COSINE, VECTOR, 5, filter=clause)["knn"]["filter"] == clause
    assert "filter" not in similar.knn_body(MID, Metric.COSINE, VECTOR, 5, filter=None)["knn"]


def test_source_paths_narrow_what_the_hits_carry() -> None:
    body = similar.knn_body(MID, Metric.COSINE, VECTOR, 5, source=["metadata.title"])

    assert body["_source"] == {"includes": ["metadata.title"], "excludes": ["vectors"]}


def test_metadata_filter_keeps_equal_values_and_drops_excluded_ones() -> None:
    clause = similar.metadata_filter({"style": '"; DROP'}, {"artist": "Monet"})

    assert clause == {
        "bool": {
            "filter": [{"term": {"metadata.style": '"; DROP'}}],
            "must_not": [{"term": {"metadata.artist": "Monet"}}],
        }
    }


def test_metadata_filter_with_only_an_equality_or_only_an_exclusion() -> None:
    assert similar.metadata_filter(equal={"genre": "abstract", "style": "Op Art"}) == {
        "bool": {
            "filter": [
                {"term": {"metadata.genre": "abstract"}},
                {"term": {"metadata.style": "Op Art"}},
            ],
            "must_not": [],
        }
    }
    assert similar.metadata_filter(exclude={"artist": "Monet"}) == {
        "bool": {"filter": [], "must_not": [{"term": {"metadata.artist": "Monet"}}]}
    }


def test_no_metadata_means_no_filter() -> None:
    assert similar.metadata_filter() is None
    assert similar.metadata_filter({}, {}) is None


def _hits(*ids: str) -> list[dict[str, object]]:
    return [{"_id": painting_id, "_score": 1.0 / (i + 1)} for i, painting_id in enumerate(ids)]


def test_neighbours_leave_out_the_query_painting_and_keep_k_in_order() -> None:
    hits = _hits("a", "b", "query", "c", "d")

    kept = similar.neighbours(hits, {"query"}, 3)

    assert [hit["_id"] for hit in kept] == ["a", "b", "c"]
    assert kept[0] is hits[0], "hits are kept whole"


def test_neighbours_keep_every_hit_when_fewer_than_k_remain() -> None:
    assert [h["_id"] for h in similar.neighbours(_hits("query", "a"), ["query"], 5)] == ["a"]


def test_neighbours_cut_to_k_when_the_query_painting_is_not_among_the_hits() -> None:
    kept = similar.neighbours(_hits("a", "b", "c"), ["query"], 2)

    assert [hit["_id"] for hit in kept] == ["a", "b"]


def test_neighbours_leave_out_several_paintings() -> None:
    kept = similar.neighbours(_hits("x", "a", "y", "b"), ("x", "y"), 5)

    assert [hit["_id"] for hit in kept] == ["a", "b"]


def test_an_exact_search_breaks_ties_by_id_and_drops_left_out_paintings() -> None:
    hits = [
        {"_id": "d", "_score": 0.9},
        {"_id": "c", "_score": 0.8},
        {"_id": "b", "_score": 0.8},
        {"_id": "q", "_score": 1.0},
        {"_id": "a", "_score": 0.8},
    ]

    kept = similar.exact_neighbours(hits, ["q"], 3)

    assert [hit["_id"] for hit in kept] == ["d", "a", "b"]


def test_rescoring_and_a_margin_of_more_hits_reach_the_body() -> None:
    body = similar.knn_body(
        MID, Metric.L2, VECTOR, 5, leave_out=["a"], field="x.y", oversample=4, extra=7
    )

    assert body["knn"]["field"] == "x.y"
    assert body["knn"]["rescore_vector"] == {"oversample": 4}
    assert body["knn"]["k"] == body["size"] == 13
    assert "rescore_vector" not in similar.knn_body(MID, Metric.L2, VECTOR, 5)["knn"]


@pytest.mark.parametrize("oversample", [0.5, 10.5, -1])
def test_an_oversample_elasticsearch_refuses_is_refused_here(oversample: float) -> None:
    with pytest.raises(ValueError, match="oversample must be 0"):
        similar.knn_body(MID, Metric.L2, VECTOR, 5, oversample=oversample)


@pytest.mark.parametrize("oversample", [1.0, 10.0])
def test_the_oversample_bounds_elasticsearch_takes_are_sent(oversample: float) -> None:
    body = similar.knn_body(MID, Metric.L2, VECTOR, 5, oversample=oversample)

    assert body["knn"]["rescore_vector"] == {"oversample": oversample}
