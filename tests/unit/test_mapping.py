import pytest
from imgsim_common import mapping
from imgsim_common.names import PAINTINGS_INDEX_PATTERN
from imgsim_common.representations import MAX_DIMS, METRICS, REPRESENTATIONS, Representation


def test_every_representation_gets_one_vector_field_per_metric() -> None:
    vectors = mapping.mappings()["properties"]["vectors"]["properties"]

    assert set(vectors) == {r.name for r in REPRESENTATIONS}
    for representation in REPRESENTATIONS:
        fields = vectors[representation.name]["properties"]
        assert set(fields) == {m.value for m in METRICS}
        for metric in METRICS:
            field = fields[metric.value]
            assert field["type"] == "dense_vector"
            assert field["dims"] == representation.dims
            assert field["similarity"] == metric.es_similarity
            assert field["index_options"] == {"type": "int8_hnsw"}


def test_vectors_are_indexed_but_not_kept_in_source() -> None:
    assert mapping.mappings()["_source"] == {"excludes": ["vectors"]}


def test_index_options_and_shards_reach_the_template() -> None:
    template = mapping.index_template(shards=3, replicas=1, index_options="flat")

    assert template["index_patterns"] == [PAINTINGS_INDEX_PATTERN]
    assert template["template"]["settings"] == {"number_of_shards": 3, "number_of_replicas": 1}
    vectors = template["template"]["mappings"]["properties"]["vectors"]["properties"]
    assert vectors["global"]["properties"]["l2"]["index_options"] == {"type": "flat"}


def test_title_is_keyword_and_text_and_unknown_top_level_fields_are_refused() -> None:
    body = mapping.mappings()

    title = body["properties"]["metadata"]["properties"]["title"]
    assert title["type"] == "keyword" and title["fields"]["text"]["type"] == "text"
    assert body["dynamic"] == "strict"
    assert body["properties"]["vectors"]["dynamic"] == "strict"


def test_a_representation_wider_than_elasticsearch_allows_is_refused() -> None:
    too_wide = Representation("huge", MAX_DIMS + 1, "too wide")

    with pytest.raises(ValueError, match="huge"):
        mapping.mappings([too_wide])
