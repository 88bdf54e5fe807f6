import fnmatch
from pathlib import Path

import pytest
from imgsim_common import mapping, names
from imgsim_common.model_card import ModelCard, RepresentationCard, backbone_card
from imgsim_common.representations import REPRESENTATIONS
from pydantic import ValidationError


def trained_card(version: str = "abc123def456") -> ModelCard:
    base = backbone_card("MobileNetV3Large", 224, "random", version)
    return base.model_copy(
        update={
            "name": "MobileNetV3Large-paintings",
            "representations": [
                *base.representations,
                RepresentationCard(
                    name="trained_style", dims=512, description="style", source="trained"
                ),
            ],
        }
    )


def test_the_backbone_alone_has_the_three_representations_and_no_pipeline_of_its_own() -> None:
    card = backbone_card("MobileNetV3Large", 224, "random", "v0")

    assert card.representation_list() == REPRESENTATIONS
    assert not card.trained
    assert card.pipeline_version is None
    assert "untrained" in card.notes[0]


def test_a_trained_card_has_a_pipeline_named_by_its_version() -> None:
    card = trained_card()

    assert card.trained and card.pipeline_version == "abc123def456"
    pipeline = names.model_pipeline(card.pipeline_version)
    assert pipeline.topic == pipeline.index == "paintings-model-abc123def456"
    assert pipeline.consumer_group == "imgsim-vectorizer-abc123def456"
    # Nothing of one version's pipeline is shared with the base pipeline or another version.
    others = (names.BASE_PIPELINE, names.model_pipeline("0123456789ab"))
    for other in others:
        for field in ("topic", "index", "connector", "consumer_group", "sink_dead_letter_topic"):
            assert getattr(pipeline, field) != getattr(other, field)


def test_a_card_saved_in_a_folder_loads_from_the_folder_or_the_file(tmp_path: Path) -> None:
    card = trained_card()

    path = card.save(tmp_path)

    assert ModelCard.load(tmp_path) == card == ModelCard.load(path)


def test_a_missing_card_says_where_it_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=f"no model card at {tmp_path}/card.json"):
        ModelCard.load(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"representations": []}, "at least 1"),
        ({"representations": [{"name": "a", "dims": 2, "description": ""}] * 2}, "repeat"),
        ({"representations": [{"name": "A b", "dims": 2, "description": ""}]}, "pattern"),
        ({"representations": [{"name": "a", "dims": 5000, "description": ""}]}, "4096"),
    ],
)
def test_bad_cards_are_refused(change: dict[str, object], message: str) -> None:
    document = trained_card().model_dump(mode="json") | change

    with pytest.raises(ValidationError, match=message):
        ModelCard.model_validate(document)


def test_a_model_index_is_mapped_from_its_card_and_carries_it() -> None:
    card = trained_card()

    body = mapping.model_index(card, shards=2, index_options="flat")

    vectors = body["mappings"]["properties"]["vectors"]["properties"]
    assert sorted(vectors) == sorted(r.name for r in card.representations)
    assert vectors["trained_style"]["properties"]["cosine"]["dims"] == 512
    assert body["mappings"]["_meta"]["imgsim"]["model_card"]["version"] == card.version
    assert body["settings"]["number_of_shards"] == 2


def test_the_base_template_does_not_add_fields_to_a_model_index() -> None:
    # A template matching a model's index would merge the base representations into its mapping.
    patterns = mapping.index_template()["index_patterns"]
    model_index = names.model_pipeline("abc").index

    assert not any(fnmatch.fnmatch(model_index, pattern) for pattern in patterns)
    assert any(fnmatch.fnmatch(names.INITIAL_PAINTINGS_INDEX, pattern) for pattern in patterns)
