"""The model's settings, as the vectorizer reads them (upload search asks the vectorizer over
HTTP: the search API reads none of them)."""

from pathlib import Path

import pytest
from imgsim_vectorizer.settings import VectorizerSettings
from imgsim_vision.settings import ModelSettings, model_files
from pydantic import ValidationError

# Every model setting, as the vectorizer reads it.
NAMES = {
    "backbone": "VECTORIZER_BACKBONE",
    "weights": "VECTORIZER_WEIGHTS",
    "model_path": "VECTORIZER_MODEL_PATH",
    "backend": "VECTORIZER_BACKEND",
    "onnx_cache_dir": "VECTORIZER_ONNX_CACHE_DIR",
    "onnx_tolerance": "VECTORIZER_ONNX_TOLERANCE",
}


@pytest.fixture(autouse=True)
def no_model_settings_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NAMES.values():
        monkeypatch.delenv(name, raising=False)


def test_each_setting_has_its_name() -> None:
    assert set(NAMES) == set(ModelSettings.model_fields)
    for field, name in NAMES.items():
        assert VectorizerSettings.setting_name(field) == name


def test_the_vectorizer_reads_the_model_from_its_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    saved = saved_model_folder(tmp_path)
    values = {
        "backbone": "Xception",
        "weights": "random",
        "model_path": str(saved),
        "backend": "tensorflow",
        "onnx_cache_dir": str(tmp_path / "onnx"),
        "onnx_tolerance": "0.25",
    }
    for field, value in values.items():
        monkeypatch.setenv(NAMES[field], value)

    expected = ModelSettings(
        backbone="Xception",
        weights="random",
        model_path=saved,
        backend="tensorflow",
        onnx_cache_dir=tmp_path / "onnx",
        onnx_tolerance=0.25,
    )
    settings = VectorizerSettings()
    assert ModelSettings.model_validate(settings.model_dump(include=set(NAMES))) == expected


def test_the_defaults_are_the_model_settings_defaults() -> None:
    defaults = ModelSettings().model_dump()

    assert {k: v for k, v in VectorizerSettings().model_dump().items() if k in NAMES} == defaults
    assert defaults["backbone"] == "MobileNetV3Large"
    assert defaults["backend"] == "onnx"
    assert defaults["onnx_tolerance"] == 1e-3


def saved_model_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "Tiny-paintings-0123456789ab"
    folder.mkdir()
    (folder / "model.keras").write_bytes(b"a saved model")
    (folder / "card.json").write_text("{}")
    return folder


def test_the_model_path_is_the_folder_or_either_file_in_it(tmp_path: Path) -> None:
    folder = saved_model_folder(tmp_path)

    for path in (folder, folder / "card.json", folder / "model.keras"):
        assert ModelSettings(model_path=path).model_path == path
    assert model_files(folder / "card.json") == (folder / "model.keras", folder / "card.json")


def test_a_model_path_that_is_not_a_saved_model_says_what_is_missing(tmp_path: Path) -> None:
    folder = saved_model_folder(tmp_path)
    (folder / "card.json").unlink()
    other = tmp_path / "tuned.keras"
    other.write_bytes(b"a model without a card")

    with pytest.raises(ValidationError, match="MODEL_PATH=.*card.json missing .*imgsim train"):
        ModelSettings(model_path=folder)
    with pytest.raises(ValidationError, match="tuned.keras is neither a model folder nor"):
        ModelSettings(model_path=other)


def test_a_missing_model_file_is_named_by_the_variable_to_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VECTORIZER_MODEL_PATH", str(tmp_path / "gone.keras"))

    with pytest.raises(ValidationError, match="VECTORIZER_MODEL_PATH=.*gone.keras does not exist"):
        VectorizerSettings()
    with pytest.raises(ValidationError, match="MODEL_PATH=.*does not exist"):
        ModelSettings(model_path=tmp_path / "gone.keras")


def test_weights_are_imagenet_random_or_a_file(tmp_path: Path) -> None:
    weights = tmp_path / "weights.h5"
    weights.write_bytes(b"weights")

    assert ModelSettings(weights="imagenet").weights == "imagenet"
    assert ModelSettings(weights="random").weights == "random"
    assert ModelSettings(weights=str(weights)).weights == str(weights)
    with pytest.raises(ValidationError, match="WEIGHTS='imagenett' is neither 'imagenet' nor"):
        ModelSettings(weights="imagenett")
    with pytest.raises(ValidationError, match="is neither"):
        ModelSettings(weights=str(tmp_path))  # a folder is not a weights file


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("backbone", "ResNet50"),
        ("backend", "tflite"),
        ("onnx_tolerance", 0),
        ("onnx_tolerance", -1),
    ],
)
def test_unknown_choices_and_a_tolerance_not_above_zero_are_refused(
    field: str, value: object
) -> None:
    with pytest.raises(ValidationError, match=field):
        ModelSettings.model_validate({field: value})
