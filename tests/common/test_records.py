import math
from typing import Any

import pytest
from imgsim_common.records import ModelInfo, PaintingRecord
from imgsim_common.representations import REPRESENTATIONS
from pydantic import ValidationError


def _record(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": "a.jpg",
        "path": "a.jpg",
        "sha1": "0" * 40,
        "width": 10,
        "height": 20,
        "model": {"name": "m", "version": "1"},
        "metadata": {"artist": "A", "year": 1890},
        "vectors": {r.name: [0.5] * r.dims for r in REPRESENTATIONS},
    }
    record.update(changes)
    return record


def test_a_complete_record_round_trips_as_json() -> None:
    record = PaintingRecord.model_validate(_record())

    assert PaintingRecord.model_validate(record.to_json()) == record


@pytest.mark.parametrize(
    ("vectors_change", "message"),
    [
        # Elasticsearch would refuse it at the sink, and the painting would never appear.
        ({"global": [0.5] * 4097}, "has 4097 dims"),
        ({"mid": []}, "has 0 dims"),
        # Names become index fields: `vectors.<name>.<metric>`.
        ({"Colour.x": [1.0]}, "does not match"),
        ({"mid": [math.nan] * 112}, "NaN"),
        ({"style": [0.0] * 256}, "all zeros"),
    ],
)
def test_bad_vectors_are_refused(vectors_change: dict[str, list[float]], message: str) -> None:
    vectors = {r.name: [0.5] * r.dims for r in REPRESENTATIONS} | vectors_change

    with pytest.raises(ValidationError, match=message):
        PaintingRecord.model_validate(_record(vectors=vectors))


def test_vectors_of_1_and_of_4096_dims_elasticsearch_holds_are_taken() -> None:
    for dims in (1, 4096):
        record = PaintingRecord.model_validate(_record(vectors={"global": [0.5] * dims}))
        assert len(record.vectors["global"]) == dims


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        PaintingRecord.model_validate(_record(colour="red"))


def test_a_record_without_vectors_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least one"):
        PaintingRecord.model_validate(_record(vectors={}))


def test_a_trained_model_adds_representations_of_its_own() -> None:
    # Which names and dims are right is the model card's business (and its index's mapping).
    vectors = {r.name: [0.5] * r.dims for r in REPRESENTATIONS} | {"trained_style": [0.1] * 512}

    assert PaintingRecord.model_validate(_record(vectors=vectors)).vectors["trained_style"]


def test_the_model_of_a_record_cannot_be_changed_under_it() -> None:
    # One ModelInfo is shared by every record a loaded model writes.
    info = ModelInfo(name="m", version="1")

    with pytest.raises(ValidationError, match="frozen"):
        info.version = "2"  # type: ignore[misc]
    assert {info: 1}[ModelInfo(name="m", version="1")] == 1
