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
        ({"global": [0.5] * 3}, "has 3 dims"),
        # Elasticsearch would refuse it at the sink, and the painting would never appear.
        ({"mid": [0.5] * 113}, "has 113 dims"),
        ({"colour": [1.0]}, "must hold exactly"),
        ({"mid": [math.nan] * 112}, "NaN"),
        ({"style": [0.0] * 256}, "all zeros"),
    ],
)
def test_bad_vectors_are_refused(vectors_change: dict[str, list[float]], message: str) -> None:
    vectors = {r.name: [0.5] * r.dims for r in REPRESENTATIONS} | vectors_change

    with pytest.raises(ValidationError, match=message):
        PaintingRecord.model_validate(_record(vectors=vectors))


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        PaintingRecord.model_validate(_record(colour="red"))


def test_a_record_missing_a_representation_is_refused() -> None:
    vectors = {r.name: [0.5] * r.dims for r in REPRESENTATIONS if r.name != "style"}

    with pytest.raises(ValidationError, match="must hold exactly"):
        PaintingRecord.model_validate(_record(vectors=vectors))


def test_the_model_of_a_record_cannot_be_changed_under_it() -> None:
    # One ModelInfo is shared by every record a loaded model writes.
    info = ModelInfo(name="m", version="1")

    with pytest.raises(ValidationError, match="frozen"):
        info.version = "2"  # type: ignore[misc]
    assert {info: 1}[ModelInfo(name="m", version="1")] == 1
