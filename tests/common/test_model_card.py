import dataclasses
import fnmatch
from pathlib import Path

import pytest
from imgsim_common import mapping, names
from imgsim_common.model_card import ModelCard, RepresentationCard, backbone_card
from imgsim_common.records import ModelInfo
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
    # What each vector record names as its model.
    assert card.info == ModelInfo(name="MobileNetV3Large-paintings", version="abc123def456")
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


HEAD_CLASS = {"name": "Impressionism", "train": 40, "validation": 10}
HEAD = {"name": "style", "column": "style", "classes": [HEAD_CLASS], "min_count": 5}
TRAINING = {
    "images": 50,
    "train": 40,
    "validation": 10,
    "split": "stratified",
    "augmented_views": 2,
    "epochs": 3,
    "seconds": 12.5,
    "metadata": "paintings.csv",
    "rebalanced": "class weights",
}


def _card_with(part: str, field: str, value: object) -> dict[str, object]:
    """A valid card's document with one field of one of its parts set to `value`."""
    document = trained_card().model_dump(mode="json")
    head = HEAD | {"classes": [HEAD_CLASS]}
    if part == "class":
        head["classes"] = [HEAD_CLASS | {field: value}]
    elif part == "head":
        head[field] = value
    document["heads"] = [head]
    document["training"] = TRAINING | ({field: value} if part == "training" else {})
    if part == "card":
        document[field] = value
    elif part == "representation":
        document["representations"] = [{"name": "a", "description": "", field: value}]
    return document


# Each bound at its edge: the last value accepted beside the first refused.
BOUNDS = [
    ("card", "name", "M", ""),
    ("card", "version", "v", ""),
    ("card", "input_size", 1, 0),
    ("representation", "dims", 1, 0),
    ("class", "train", 0, -1),
    ("class", "validation", 0, -1),
    ("head", "min_count", 1, 0),
    ("head", "accuracy", 0.0, -0.01),
    ("head", "accuracy", 1.0, 1.01),
    ("head", "balanced_accuracy", 0.0, -0.01),
    ("head", "balanced_accuracy", 1.0, 1.01),
    ("training", "images", 0, -1),
    ("training", "skipped", 0, -1),
    ("training", "train", 0, -1),
    ("training", "validation", 0, -1),
    ("training", "augmented_views", 1, 0),
    ("training", "epochs", 0, -1),
    ("training", "seconds", 0.0, -0.5),
]


@pytest.mark.parametrize(("part", "field", "accepted", "refused"), BOUNDS)
def test_each_bound_of_a_card_accepts_its_edge_and_refuses_past_it(
    part: str, field: str, accepted: object, refused: object
) -> None:
    ModelCard.model_validate(_card_with(part, field, accepted))

    with pytest.raises(ValidationError, match=field):
        ModelCard.model_validate(_card_with(part, field, refused))


def test_a_card_says_its_format_and_a_summary_its_defaults() -> None:
    # Cards already saved say format 1: a card written today must read the same way.
    assert trained_card().model_dump(mode="json")["card_format"] == 1
    # A summary that names no skipped rows and no backbone training skipped none, froze it.
    summary = ModelCard.model_validate(_card_with("training", "split", "in_train")).training

    assert summary is not None and (summary.skipped, summary.frozen_backbone) == (0, True)


def test_only_random_weights_are_noted_as_untrained() -> None:
    for weights in ("imagenet", "weights/paintings.keras"):
        assert backbone_card("MobileNetV3Large", 224, weights, "v0").notes == []


def test_only_a_model_versions_index_names_a_pipeline() -> None:
    # Whatever the version's first character, "z" sorting after the prefix's "p" too.
    for version in ("abc", "0f3", "zz9"):
        index = names.model_pipeline(version).index
        assert names.pipeline_of_index(index) == names.model_pipeline(version)
    # The prefix alone names no version: the checker must not follow it to a pipeline of "".
    for index in ("paintings-model-", "paintings-v1", "abc"):
        assert names.pipeline_of_index(index) is None
    assert names.model_pipeline(None) is names.BASE_PIPELINE


def test_the_base_pipeline_cannot_be_renamed_by_one_of_its_users() -> None:
    # One shared constant: a caller changing it would move every later caller to its names.
    with pytest.raises(dataclasses.FrozenInstanceError):
        names.BASE_PIPELINE.topic = "elsewhere"  # type: ignore[misc]


def test_the_parts_a_card_shares_cannot_be_changed_in_place() -> None:
    # A loaded card's representations and classes are read by the worker, the mapping and the
    # API at once: one changing a part would change it for all.
    card = ModelCard.model_validate(_card_with("head", "min_count", 5))

    with pytest.raises(ValidationError, match="frozen"):
        card.representations[0].dims = 1  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        card.heads[0].classes[0].train = 0  # type: ignore[misc]
