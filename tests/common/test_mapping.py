import dataclasses

import pytest
from imgsim_common import mapping
from imgsim_common.model_card import backbone_card
from imgsim_common.names import PAINTINGS_INDEX_PATTERN
from imgsim_common.representations import MAX_DIMS, METRICS, REPRESENTATIONS, Representation


def test_every_representation_gets_one_vector_field_per_metric() -> None:
    vectors = mapping.mappings()["properties"]["vectors"]["properties"]

    assert set(vectors) == {r.name for r in REPRESENTATIONS}
    for representation in REPRESENTATIONS:
        fields = vectors[representation.name]["properties"]
        assert set(fields) == {m.value for m in METRICS} | {f"{m.value}_exact" for m in METRICS}
        for metric in METRICS:
            field = fields[metric.value]
            assert field["type"] == "dense_vector"
            assert field["dims"] == representation.dims
            # Without an index, a knn search on the field is refused.
            assert field["index"] is True
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


@pytest.mark.parametrize("dims", [MAX_DIMS + 1, 0, -1])
def test_a_representation_elasticsearch_cannot_hold_is_refused(dims: int) -> None:
    too_wide = Representation("huge", dims, "too wide")

    with pytest.raises(ValueError, match="huge"):
        mapping.mappings([too_wide])


@pytest.mark.parametrize("dims", [1, MAX_DIMS])
def test_the_narrowest_and_widest_vectors_elasticsearch_holds_are_mapped(dims: int) -> None:
    body = mapping.mappings([Representation("edge", dims, "at the bound")])

    assert body["properties"]["vectors"]["properties"]["edge"]["properties"]["l2"]["dims"] == dims


def test_extra_csv_columns_are_mapped_as_keywords_only_under_metadata() -> None:
    body = mapping.mappings()

    assert body["properties"]["metadata"]["dynamic"] is True
    (template,) = body["dynamic_templates"]
    assert template["metadata_strings_as_keywords"] == {
        "path_match": "metadata.*",
        "match_mapping_type": "string",
        # A long text is kept in the document but not indexed rather than refused.
        "mapping": {"type": "keyword", "ignore_above": 1024},
    }
    assert body["properties"]["metadata"]["properties"]["title"]["ignore_above"] == 1024


def test_the_default_template_suits_one_node() -> None:
    template = mapping.index_template()

    # Replicas on a single node would leave the index yellow for ever.
    assert template["template"]["settings"] == {"number_of_shards": 1, "number_of_replicas": 0}


def test_exact_copies_are_float_flat_fields_of_the_same_vector() -> None:
    vectors = mapping.mappings()["properties"]["vectors"]["properties"]

    for representation in REPRESENTATIONS:
        fields = vectors[representation.name]["properties"]
        for metric in METRICS:
            copy = fields[mapping.exact_field(metric.value)]
            assert copy["index_options"] == {"type": "flat"}
            assert copy["element_type"] == "float" and copy["dims"] == representation.dims
            assert copy["similarity"] == metric.es_similarity


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        ("int8_hnsw", ("cosine", "l2", "cosine_exact", "l2_exact")),
        ("int4_hnsw", ("cosine", "l2", "cosine_exact", "l2_exact")),
        ("int8_flat", ("cosine", "l2", "cosine_exact", "l2_exact")),
        # A flat field is exact itself: no copy to write.
        ("flat", ("cosine", "l2")),
        (mapping.VectorIndex("hnsw", exact_copies=False), ("cosine", "l2")),
    ],
)
def test_the_sink_fills_every_vector_field_the_mapping_has(
    index: mapping.VectorIndex | mapping.IndexOptions, expected: tuple[str, ...]
) -> None:
    fields = mapping.mappings(index_options=index)["properties"]["vectors"]["properties"]

    assert mapping.sink_vector_fields(index) == expected
    assert tuple(fields["global"]["properties"]) == expected


def test_graph_options_reach_hnsw_fields_only() -> None:
    graph = mapping.VectorIndex("int4_hnsw", m=32, ef_construction=200)
    flat = mapping.VectorIndex("int8_flat", m=32, ef_construction=200)

    graph_fields = mapping.mappings(index_options=graph)["properties"]["vectors"]["properties"]
    flat_fields = mapping.mappings(index_options=flat)["properties"]["vectors"]["properties"]

    assert graph_fields["mid"]["properties"]["l2"]["index_options"] == {
        "type": "int4_hnsw",
        "m": 32,
        "ef_construction": 200,
    }
    assert flat_fields["mid"]["properties"]["l2"]["index_options"] == {"type": "int8_flat"}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"kind": "ivf"}, "unknown index_options 'ivf'"),
        ({"m": 1}, "m must be between 2 and 512"),
        ({"m": 513}, "m must be between 2 and 512"),
        ({"ef_construction": 1}, "ef_construction must be between 2 and 3200"),
        ({"ef_construction": 3201}, "ef_construction must be between 2 and 3200"),
        ({"ef_construction": 5000}, "ef_construction must be between 2 and 3200"),
    ],
)
def test_impossible_index_options_are_refused(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mapping.VectorIndex(**arguments)  # type: ignore[arg-type]


def test_the_graph_bounds_elasticsearch_takes_are_accepted_and_kept() -> None:
    for m, ef_construction in ((2, 2), (512, 3200)):
        index = mapping.VectorIndex("hnsw", m=m, ef_construction=ef_construction)
        assert index.options() == {"type": "hnsw", "m": m, "ef_construction": ef_construction}
    # One object configures every field and the sink: no one changes it under the others.
    with pytest.raises(dataclasses.FrozenInstanceError):
        index.m = 16  # type: ignore[misc]


def test_the_mapping_carries_meta_only_when_given_and_a_model_index_suits_one_node() -> None:
    assert "_meta" not in mapping.mappings()
    assert mapping.mappings(meta={"imgsim": {"a": 1}})["_meta"] == {"imgsim": {"a": 1}}
    # As the template: replicas on a single node would leave the index yellow for ever.
    body = mapping.model_index(backbone_card("MobileNetV3Large", 224, "imagenet", "v1"))
    assert body["settings"] == {"number_of_shards": 1, "number_of_replicas": 0}
