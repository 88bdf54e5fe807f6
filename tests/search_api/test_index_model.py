"""What the index behind the alias holds, learned from its mapping (and the card in its `_meta`)
and from the model its paintings name. Against stand-ins that answer as Elasticsearch does."""

import asyncio
from typing import Any

import pytest
from imgsim_common import mapping
from imgsim_common.representations import REPRESENTATIONS, Metric, Representation
from imgsim_search_api.index_model import UNDESCRIBED, IndexModel, IndexNotUnderstood, learn

from tests.search_api.fixtures import IndexStandIn, card

BACKBONE = [r.name for r in REPRESENTATIONS]


def learned(stand_in: IndexStandIn, alias: str = "paintings") -> IndexModel:
    client: Any = stand_in
    return asyncio.run(learn(client, alias))


def test_the_base_index_is_read_from_its_mapping_and_its_paintings() -> None:
    stand_in = IndexStandIn("paintings-v1", versions={"b98": ("MobileNetV3Large", 40)})

    known = learned(stand_in)

    assert known.representations == REPRESENTATIONS  # names, dims and the backbone's descriptions
    assert all(r.metrics == (Metric.COSINE, Metric.L2) for r in known.indexed)
    assert known.index == "paintings-v1" and known.alias == "paintings"
    assert known.model is not None and known.model.version == "b98"
    assert known.model.name == "MobileNetV3Large"
    assert known.model_from == "paintings" and known.note is None
    assert known.default_representation == "global"


def test_a_model_version_s_index_is_read_from_its_card() -> None:
    trained = card("abc123", ("trained_shared", 256), ("trained_style", 128))
    stand_in = IndexStandIn("paintings-model-abc123", mapping.model_index(trained)["mappings"])

    known = learned(stand_in)

    assert [r.name for r in known.representations] == [*BACKBONE, "trained_shared", "trained_style"]
    assert known.representations[-1] == Representation(
        "trained_style", 128, "trained trained_style"
    )
    assert [r.source for r in known.indexed] == ["backbone"] * 3 + ["trained"] * 2
    assert known.model == trained.info and known.model_from == "card" and known.card == trained
    # The card says: the paintings are not counted.
    assert known.versions == ()
    assert known.default_representation == "trained_shared"


def test_names_without_a_card_get_the_backbone_s_description_or_a_neutral_one() -> None:
    others = [Representation("global", 960, "x"), Representation("genre_embedding", 64, "y")]
    stand_in = IndexStandIn(mappings=mapping.mappings(others))

    known = learned(stand_in)

    assert [(r.name, r.dims) for r in known.representations] == [
        ("global", 960),
        ("genre_embedding", 64),
    ]
    assert known.representations[0].description == REPRESENTATIONS[0].description
    assert known.representations[1].description == UNDESCRIBED
    assert [r.source for r in known.indexed] == ["backbone", None]


@pytest.mark.parametrize(
    ("versions", "note"),
    [
        ({}, "holds no painting yet"),
        ({"1": ("a", 3), "2": ("b", 5)}, "several model versions: 1 (3), 2 (5)"),
    ],
)
def test_no_painting_or_several_models_leave_the_model_unknown_and_say_why(
    versions: dict[str, tuple[str, int]], note: str
) -> None:
    known = learned(IndexStandIn(versions=versions))

    assert known.model is None and known.model_from is None
    assert known.note is not None and note in known.note
    assert [(v.info.version, v.paintings) for v in known.versions] == [
        (version, count) for version, (_, count) in versions.items()
    ]


def test_a_representation_mapped_for_one_metric_is_searched_by_that_one() -> None:
    mappings = mapping.mappings()
    del mappings["properties"]["vectors"]["properties"]["mid"]["properties"]["l2"]

    known = learned(IndexStandIn(mappings=mappings))

    assert known.metrics_of("mid") == (Metric.COSINE,)
    assert known.metrics_of("global") == (Metric.COSINE, Metric.L2)
    assert known.metrics == (Metric.COSINE, Metric.L2)


def test_a_damaged_card_falls_back_to_the_mapping_and_the_paintings() -> None:
    mappings = mapping.model_index(card("abc", ("trained_style", 8)))["mappings"]
    mappings["_meta"]["imgsim"]["model_card"]["version"] = None

    known = learned(IndexStandIn(mappings=mappings, versions={"abc": ("test-model", 2)}))

    assert known.card is None and known.model_from == "paintings"
    assert known.model is not None and known.model.version == "abc"
    assert "trained_style" in [r.name for r in known.representations]


def test_an_index_without_vector_fields_is_not_understood() -> None:
    mappings = mapping.mappings()
    del mappings["properties"]["vectors"]

    with pytest.raises(IndexNotUnderstood, match="maps no vectors"):
        learned(IndexStandIn("somebody-elses-index", mappings))


class TwoIndexes(IndexStandIn):
    """An alias over two indexes, as during a hand-made swap that added before it removed."""

    def __init__(self, first: dict[str, Any], second: dict[str, Any]) -> None:
        super().__init__(versions={"1": ("a", 1), "2": ("b", 1)})
        self.both = {"old": {"mappings": first}, "new": {"mappings": second}}

    async def get_mapping(self, index: str) -> dict[str, Any]:
        return self.both


def test_an_alias_over_two_indexes_offers_what_both_map_alike() -> None:
    old = mapping.mappings()
    new = mapping.model_index(card("2", ("trained_style", 8)))["mappings"]
    new["properties"]["vectors"]["properties"]["style"]["properties"]["cosine"]["dims"] = 255

    known = learned(TwoIndexes(old, new), alias="both")

    assert known.indexes == ("new", "old") and known.index == "both"  # search the alias itself
    # `style` is mapped 255 and 256 wide: no vector fits both. `trained_style`: one index only.
    assert [r.name for r in known.representations] == ["global", "mid"]
    assert known.model is None and known.note is not None and "several" in known.note
