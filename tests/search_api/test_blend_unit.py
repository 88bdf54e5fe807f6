"""A blend's request and its Elasticsearch search, without Elasticsearch: what is refused, the
knn clauses and their boosts, how deep each looks, the filters, and the cap per artist."""

from typing import Any

import pytest
from imgsim_common.representations import REPRESENTATIONS, Metric, vector_field
from imgsim_search_api import openapi
from imgsim_search_api.blend import (
    BLEND_QUERY_FIELDS,
    CLAUSE_FIELDS,
    MAX_CLAUSES,
    MAX_WEIGHT,
    parse_blend_query,
)
from imgsim_search_api.blend_search import BLEND_DEPTH, blend_filters, blend_plan
from imgsim_search_api.errors import RequestError
from imgsim_search_api.folding import word_start_query
from imgsim_search_api.knn import DIVERSITY_OVERFETCH, Filters, capped
from imgsim_search_api.settings import SearchApiSettings
from openapi_spec_validator import validate

SETTINGS = SearchApiSettings(upload_enabled=False)
DIMS = {r.name: r.dims for r in REPRESENTATIONS}


def _query(*clauses: dict[str, Any], **more: Any) -> Any:
    return parse_blend_query({"clauses": list(clauses), **more}, SETTINGS, REPRESENTATIONS)


def _vectors(query: Any) -> list[list[float]]:
    """Each clause's own vector, or ones for a painting's."""
    return [c.vector or [1.0] * c.representation.dims for c in query.clauses]


def test_each_clause_gathers_candidates_then_every_candidate_is_scored_by_every_clause() -> None:
    query = _query(
        {"painting": "a", "representation": "style", "weight": 3},
        {"painting": "b", "representation": "global", "weight": 1},
        k=10,
        filters={"artist": "Ana"},
    )
    plan = blend_plan(query, _vectors(query), blend_filters(query, {}), SETTINGS)
    style, subject = plan.gather["knn"]
    assert [style["field"], subject["field"]] == [
        vector_field("style", Metric.COSINE),
        vector_field("global", Metric.COSINE),
    ]
    assert [style["boost"], subject["boost"]] == [0.75, 0.25]
    assert plan.size == 10 + 2, "the two paintings searched by are fetched and dropped"
    assert style["k"] == subject["k"] == BLEND_DEPTH * plan.size
    assert style["num_candidates"] >= style["k"]
    assert plan.gather["size"] == style["k"] + subject["k"], "every candidate of every clause"
    assert plan.gather["_source"] is False

    scoring = plan.scoring(["x", "y", "z"])
    for clause, gathered in zip(scoring["knn"], (style, subject), strict=True):
        assert clause["k"] == 3 and clause["num_candidates"] >= 3
        assert clause["boost"] == gathered["boost"]
        assert clause["query_vector"] == gathered["query_vector"]
        assert clause["filter"] == {
            "bool": {"filter": [{"ids": {"values": ["x", "y", "z"]}}, gathered["filter"]]}
        }
    assert scoring["size"] == 3 and scoring["_source"] == {"excludes": ["vectors"]}
    assert plan.alone is None


def test_a_clause_of_weight_zero_searches_nothing_and_a_cap_looks_deeper_still() -> None:
    query = _query(
        {"painting": "a", "representation": "style", "weight": 0},
        {"vector": [0.5] * DIMS["mid"], "representation": "mid", "weight": 2},
        k=5,
        per_artist=1,
    )
    filters = blend_filters(query, {})
    plan = blend_plan(query, _vectors(query), filters, SETTINGS)
    (only,) = plan.gather["knn"]
    assert only["boost"] == 1.0 and only["field"] == vector_field("mid", Metric.COSINE)
    assert "filter" not in only and plan.scoring(["x"])["knn"][0]["filter"] == {
        "bool": {"filter": [{"ids": {"values": ["x"]}}]}
    }
    assert filters.exclude_ids == ["a"]
    assert plan.size == 5 * DIVERSITY_OVERFETCH + 1
    assert only["k"] == BLEND_DEPTH * plan.size
    # One knn clause: its plain search is the blend's, as deep as the answer.
    assert plan.alone is not None and plan.alone["knn"]["k"] == plan.size == plan.alone["size"]
    assert plan.alone["knn"]["boost"] == 1.0


def test_an_exact_blend_reads_the_exact_copies() -> None:
    query = _query({"painting": "a", "representation": "global"}, k=3, exact=True, metric="l2")
    field = vector_field("global", Metric.L2)
    plan = blend_plan(
        query, _vectors(query), blend_filters(query, {}), SETTINGS, {field: f"{field}_exact"}
    )
    assert plan.gather["knn"][0]["field"] == f"{field}_exact"
    assert plan.scoring(["x"])["knn"][0]["field"] == f"{field}_exact"


def test_same_style_and_exclude_artist_name_every_painting_searched_by() -> None:
    query = _query(
        {"painting": "a", "representation": "style"},
        {"painting": "b", "representation": "global"},
        same_style=True,
        exclude_artist=True,
        filters={"genre": "landscape"},
    )
    metadata = {
        "a": {"style": "Realism", "artist": "Ana"},
        "b": {"style": "Cubism", "artist": "Ben"},
    }
    clause = blend_filters(query, metadata).clause()
    assert clause == {
        "bool": {
            "filter": [
                word_start_query("metadata.genre", "landscape"),
                {"terms": {"metadata.style": ["Cubism", "Realism"]}},
            ],
            "must_not": [{"terms": {"metadata.artist": ["Ana", "Ben"]}}],
        }
    }
    assert Filters().clause() is None


def test_the_cap_keeps_the_order_and_never_caps_a_painting_without_an_artist() -> None:
    def hit(painting: str, artist: str | None) -> dict[str, Any]:
        return {"_id": painting, "_source": {"metadata": {"artist": artist} if artist else {}}}

    hits = [hit("1", "Ana"), hit("2", "Ana"), hit("3", None), hit("4", None), hit("5", "Ben")]
    assert [h["_id"] for h in capped(hits, 10, 1)] == ["1", "3", "4", "5"]
    assert [h["_id"] for h in capped(hits, 3, 2)] == ["1", "2", "3"]
    assert [h["_id"] for h in capped(hits, 2, None)] == ["1", "2"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"clauses": "a"}, "clauses must be a list"),
        (
            {"clauses": [{"painting": "a", "representation": "style"}] * (MAX_CLAUSES + 1)},
            "at most",
        ),
        (
            {"clauses": [{"painting": "a", "vector": [1], "representation": "mid"}]},
            "one of a painting id, a vector or the upload",
        ),
        (
            {"clauses": [{"painting": "a", "upload": True, "representation": "mid"}]},
            "one of a painting id, a vector or the upload",
        ),
        ({"clauses": [{"upload": "image", "representation": "mid"}]}, '"upload" is true'),
        ({"clauses": [{"painting": "", "representation": "mid"}]}, "painting must be"),
        ({"clauses": [{"painting": "a", "representation": "mid", "weight": True}]}, "weight"),
        ({"clauses": [{"painting": "a", "representation": "mid", "weight": 101}]}, "weight"),
        ({"clauses": [{"painting": "a", "representation": "mid", "weight": float("inf")}]}, "wei"),
        ({"clauses": [{"vector": [0.0] * DIMS["mid"], "representation": "mid"}]}, "zeros"),
        ({"clauses": [{"vector": ["x"], "representation": "mid"}]}, "finite numbers"),
        ({"clauses": [{"painting": "a", "representation": "mid"}], "exact": "yes"}, "exact"),
        ({"clauses": [{"painting": "a", "representation": "mid"}], "per_artist": 1.5}, "per_a"),
        ({"clauses": [{"painting": "a", "representation": "mid"}], "filters": {"x": "y"}}, "x"),
    ],
)
def test_what_is_refused(body: dict[str, Any], says: str) -> None:
    with pytest.raises(RequestError) as refused:
        parse_blend_query(body, SETTINGS, REPRESENTATIONS)
    assert refused.value.status == 400
    assert says in refused.value.message


def test_an_upload_clause_names_its_representations_and_leaves_no_painting_out() -> None:
    query = _query(
        {"upload": True, "representation": "style", "weight": 2},
        {"upload": True, "representation": "style"},
        {"painting": "a", "representation": "global"},
    )

    assert [r.name for r in query.uploaded] == ["style"]
    assert query.paintings == ["a"]
    assert query.clauses[0].describe() == {"upload": True, "representation": "style", "weight": 2}
    assert _query({"painting": "a", "representation": "mid"}).uploaded == []


def test_a_zero_vector_is_searched_by_l2() -> None:
    query = _query({"vector": [0.0] * DIMS["mid"], "representation": "mid"}, metric="l2")
    assert query.metric is Metric.L2 and query.paintings == []


def test_the_openapi_document_describes_the_blend_the_api_takes() -> None:
    document = openapi.document(SETTINGS)
    schemas = document["components"]["schemas"]
    validate(document)
    assert list(schemas["BlendQuery"]["properties"]) == list(BLEND_QUERY_FIELDS)
    assert list(schemas["BlendClause"]["properties"]) == list(CLAUSE_FIELDS)
    assert schemas["BlendQuery"]["properties"]["clauses"]["maxItems"] == MAX_CLAUSES
    assert schemas["BlendClause"]["properties"]["weight"]["maximum"] == MAX_WEIGHT
    route = document["paths"]["/similar/blend"]["post"]
    assert {"400", "404", "409", "503"} <= set(route["responses"])
    by_id = document["paths"]["/similar/{painting_id}"]["get"]["parameters"]
    assert "per_artist" in [p["name"] for p in by_id]


def test_by_cosine_clauses_of_one_representation_are_one_search_for_their_weighted_sum() -> None:
    query = _query(
        {"vector": [3.0, 0.0] + [0.0] * (DIMS["mid"] - 2), "representation": "mid", "weight": 1},
        {"vector": [0.0, 2.0] + [0.0] * (DIMS["mid"] - 2), "representation": "mid", "weight": 3},
        {"painting": "a", "representation": "style", "weight": 4},
    )
    plan = blend_plan(query, _vectors(query), blend_filters(query, {}), SETTINGS)
    mid, style = plan.gather["knn"]
    # Shares 1/8 and 3/8 of the unit vectors (1, 0) and (0, 1): c = (1/8, 3/8).
    length = (1 / 64 + 9 / 64) ** 0.5
    assert mid["boost"] == pytest.approx(length) and style["boost"] == 0.5
    assert mid["query_vector"][:2] == pytest.approx([1 / 8 / length, 3 / 8 / length])
    assert plan.offset == pytest.approx((0.5 - length) / 2)

    by_l2 = _query(*query_clauses(query), metric="l2")
    plan = blend_plan(by_l2, _vectors(by_l2), blend_filters(by_l2, {}), SETTINGS)
    assert [c["boost"] for c in plan.gather["knn"]] == [0.125, 0.375, 0.5]
    assert plan.offset == 0


def query_clauses(query: Any) -> list[dict[str, Any]]:
    return [
        {"painting": c.painting, "representation": c.representation.name, "weight": c.weight}
        if c.painting
        else {"vector": c.vector, "representation": c.representation.name, "weight": c.weight}
        for c in query.clauses
    ]


def test_clauses_that_cancel_out_are_a_400() -> None:
    query = _query(
        {"vector": [1.0] * DIMS["mid"], "representation": "mid"},
        {"vector": [-1.0] * DIMS["mid"], "representation": "mid"},
    )
    with pytest.raises(RequestError) as refused:
        blend_plan(query, _vectors(query), blend_filters(query, {}), SETTINGS)
    assert refused.value.status == 400 and "cancel" in refused.value.message
