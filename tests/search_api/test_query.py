"""Parameter checks and knn bodies, without Elasticsearch."""

import pytest
from imgsim_common.representations import REPRESENTATIONS, Metric
from imgsim_search_api import query
from imgsim_search_api.query import Filters, RequestError
from imgsim_search_api.settings import SearchApiSettings

SETTINGS = SearchApiSettings()


def test_representations_by_name_list_or_all() -> None:
    assert query.parse_representations(None) == list(REPRESENTATIONS)
    assert [r.name for r in query.parse_representations("style,global,style")] == [
        "style",
        "global",
    ]


def test_an_unknown_representation_lists_the_valid_ones() -> None:
    with pytest.raises(RequestError) as refused:
        query.parse_representations("global,colour")

    assert refused.value.status == 400
    assert refused.value.details["valid"] == ["global", "mid", "style", "all"]


@pytest.mark.parametrize("text", ["0", "101", "-3", "ten", "1.5"])
def test_k_out_of_bounds_or_not_a_number_is_refused(text: str) -> None:
    with pytest.raises(RequestError, match="k must"):
        query.parse_k(text, SETTINGS)


def test_the_knn_body_carries_values_only_as_json_values() -> None:
    global_ = REPRESENTATIONS[0]
    filters = Filters(equal={"style": '"; DROP'}, exclude={"artist": "Monet"}, exclude_ids=["a"])

    body = query.knn_body(global_, Metric.L2, [0.1] * global_.dims, 5, filters, SETTINGS)

    knn = body["knn"]
    assert knn["field"] == "vectors.global.l2"
    # One more neighbour than asked for: the excluded painting is dropped from the hits.
    assert knn["k"] == 6 and body["size"] == 6 and knn["num_candidates"] == 100
    assert knn["filter"]["bool"]["filter"] == [{"term": {"metadata.style": '"; DROP'}}]
    assert knn["filter"]["bool"]["must_not"] == [{"term": {"metadata.artist": "Monet"}}]
    assert body["_source"] == {"excludes": ["vectors"]}


def test_exact_search_looks_at_every_candidate_it_may() -> None:
    mid = REPRESENTATIONS[1]

    body = query.knn_body(mid, Metric.COSINE, [1.0] * mid.dims, 5, Filters(), SETTINGS, exact=True)

    assert body["knn"]["num_candidates"] == query.MAX_NUM_CANDIDATES
    assert "filter" not in body["knn"]
