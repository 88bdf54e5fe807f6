"""The API's knn bodies, built by imgsim_common.similar: values only ever as JSON values."""

import dataclasses

import pytest
from imgsim_common import similar
from imgsim_common.representations import REPRESENTATIONS, Metric, by_name
from imgsim_search_api import knn
from imgsim_search_api.errors import RequestError
from imgsim_search_api.folding import word_start_query
from imgsim_search_api.knn import Filters
from imgsim_search_api.settings import SearchApiSettings

SETTINGS = SearchApiSettings()


def test_the_knn_body_carries_values_only_as_json_values() -> None:
    global_ = REPRESENTATIONS[0]
    filters = Filters(equal={"style": '"; DROP'}, exclude={"artist": "Monet"}, exclude_ids=["a"])

    body = knn.knn_body(global_, Metric.L2, [0.1] * global_.dims, 5, filters, SETTINGS)

    knn_part = body["knn"]
    assert knn_part["field"] == "vectors.global.l2"
    # One more neighbour than asked for: the excluded painting is dropped from the hits.
    assert knn_part["k"] == 6 and body["size"] == 6 and knn_part["num_candidates"] == 100
    assert knn_part["filter"]["bool"]["filter"] == [word_start_query("metadata.style", '"; DROP')]
    assert knn_part["filter"]["bool"]["must_not"] == [{"term": {"metadata.artist": "Monet"}}]
    assert body["_source"] == {"excludes": ["vectors"]}


def test_exact_search_looks_at_every_candidate_it_may() -> None:
    mid = REPRESENTATIONS[1]

    body = knn.knn_body(mid, Metric.COSINE, [1.0] * mid.dims, 5, Filters(), SETTINGS, exact=True)

    assert body["knn"]["num_candidates"] == similar.MAX_NUM_CANDIDATES
    assert "filter" not in body["knn"]


def test_candidates_grow_with_k_by_the_setting() -> None:
    style = by_name("style")
    settings = SearchApiSettings(num_candidates_factor=30, max_k=1000)

    small = knn.knn_body(style, Metric.L2, [0.0] * style.dims, 2, Filters(), settings)
    large = knn.knn_body(style, Metric.L2, [0.0] * style.dims, 50, Filters(), settings)

    assert small["knn"]["num_candidates"] == 100  # never fewer
    assert large["knn"]["num_candidates"] == 1500


def test_a_vector_of_other_dimensions_is_a_400() -> None:
    with pytest.raises(RequestError, match="a 'mid' vector has 112 dimensions, got 3") as refused:
        knn.knn_body(by_name("mid"), Metric.L2, [1.0, 2.0, 3.0], 5, Filters(), SETTINGS)

    assert refused.value.status == 400


@pytest.mark.parametrize(
    ("filters", "clause"),
    [
        (Filters(), None),
        # A painting's neighbours in its own style (same_style), alone.
        (
            Filters(equal={"style": "Cubism"}),
            {"bool": {"filter": [word_start_query("metadata.style", "Cubism")], "must_not": []}},
        ),
        # Other artists' paintings only (exclude_artist), alone.
        (
            Filters(exclude={"artist": "Braque"}),
            {"bool": {"filter": [], "must_not": [{"term": {"metadata.artist": "Braque"}}]}},
        ),
        # Left-out paintings are dropped from the hits, never filtered.
        (Filters(exclude_ids=["a.jpg"]), None),
    ],
)
def test_each_kind_of_filter_alone(filters: Filters, clause: dict[str, object] | None) -> None:
    mid = by_name("mid")

    body = knn.knn_body(mid, Metric.COSINE, [1.0] * mid.dims, 5, filters, SETTINGS)

    assert filters.clause() == clause
    assert body["knn"].get("filter") == clause


def test_filters_cannot_be_changed_once_made() -> None:
    filters = Filters(equal={"style": "Cubism"})

    with pytest.raises(dataclasses.FrozenInstanceError):
        filters.exclude_ids = ["a.jpg"]  # type: ignore[misc]


def test_a_model_version_keeps_the_search_to_its_paintings_beside_the_other_filters() -> None:
    alone = Filters(model_version="abc").clause()
    both = Filters(equal={"style": "Realism"}, model_version="abc").clause()

    assert alone == {"bool": {"filter": [{"term": {"model.version": "abc"}}], "must_not": []}}
    assert both is not None
    assert both["bool"]["filter"] == [
        word_start_query("metadata.style", "Realism"),
        {"term": {"model.version": "abc"}},
    ]
    assert Filters().clause() is None


def test_an_exact_search_reads_the_float_copy_with_a_margin_for_ties() -> None:
    mid = by_name("mid")
    field = "vectors.mid.cosine_exact"

    body = knn.knn_body(
        mid,
        Metric.COSINE,
        [1.0] * mid.dims,
        5,
        Filters(exclude_ids=["a"]),
        SETTINGS,
        exact=True,
        exact_field=field,
    )

    assert body["knn"]["field"] == field
    assert body["knn"]["k"] == 5 + 1 + 5 + knn.EXACT_TIE_MARGIN
    assert "rescore_vector" not in body["knn"]


def test_an_exact_search_without_a_float_copy_rescores_every_candidate_it_may() -> None:
    mid = by_name("mid")

    body = knn.knn_body(mid, Metric.COSINE, [1.0] * mid.dims, 5, Filters(), SETTINGS, exact=True)

    assert body["knn"]["field"] == "vectors.mid.cosine"
    assert body["knn"]["num_candidates"] == similar.MAX_NUM_CANDIDATES
    assert body["knn"]["rescore_vector"] == {"oversample": similar.MAX_OVERSAMPLE}


def test_recall_settings_reach_an_approximate_search() -> None:
    mid = by_name("mid")
    settings = SearchApiSettings(min_num_candidates=300, rescore_oversample=3)

    body = knn.knn_body(mid, Metric.L2, [1.0] * mid.dims, 10, Filters(), settings)

    assert body["knn"]["num_candidates"] == 300
    assert body["knn"]["rescore_vector"] == {"oversample": 3}
    assert body["knn"]["field"] == "vectors.mid.l2"


@pytest.mark.parametrize("k", [10, 42])
def test_the_margin_for_ties_is_added_to_any_k(k: int) -> None:
    mid = by_name("mid")
    body = knn.knn_body(
        mid, Metric.COSINE, [1.0] * mid.dims, k, Filters(), SETTINGS, exact=True, exact_field="f"
    )

    assert body["knn"]["k"] == k + k + knn.EXACT_TIE_MARGIN
