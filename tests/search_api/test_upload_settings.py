"""Upload search's model settings: read when the model loads, refused with the reason in the 503."""

import asyncio
from pathlib import Path
from typing import Any

import pytest
from imgsim_common.representations import REPRESENTATIONS
from imgsim_search_api.errors import RequestError
from imgsim_search_api.settings import SearchApiSettings
from imgsim_search_api.upload import UploadModel
from imgsim_vision import inference
from imgsim_vision.settings import ModelSettings

from tests.search_api.fixtures import watching


def test_a_wrong_model_setting_leaves_the_api_up_and_upload_search_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SEARCH_API_MODEL_BACKBONE", "ResNet50")
    monkeypatch.setenv("SEARCH_API_MODEL_PATH", "/no/such/model.keras")
    settings = SearchApiSettings()  # browsing and similar-by-id do not need the model
    model = UploadModel(settings)

    model.load()

    assert model.ready is None
    with pytest.raises(RequestError) as refused:
        model.comparable(asyncio.run(watching().current()), REPRESENTATIONS)
    assert refused.value.status == 503
    assert "SEARCH_API_MODEL_BACKBONE: Input should be 'MobileNetV3Large' or 'Xception'" in (
        refused.value.message
    )


def test_a_missing_model_file_is_named_in_the_503(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEARCH_API_MODEL_PATH", "/no/such/model.keras")
    model = UploadModel(SearchApiSettings())

    model.load()

    assert model.failure is not None
    assert "SEARCH_API_MODEL_PATH=/no/such/model.keras does not exist" in model.failure


def test_the_model_loads_with_the_settings_it_is_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The ONNX tolerance was fixed at 1e-3 in upload search; now it is a setting like the rest.
    monkeypatch.setenv("SEARCH_API_ONNX_TOLERANCE", "0.05")
    monkeypatch.setenv("SEARCH_API_MODEL_WEIGHTS", "random")
    monkeypatch.setenv("SEARCH_API_ONNX_CACHE_DIR", str(tmp_path))
    loaded_with: list[ModelSettings] = []

    def load_model_backend(settings: ModelSettings) -> Any:
        loaded_with.append(settings)
        raise RuntimeError("no model in this test")

    monkeypatch.setattr(inference, "load_model_backend", load_model_backend)

    UploadModel(SearchApiSettings()).load()
    given = ModelSettings(backbone="Xception", backend="tensorflow")
    UploadModel(SearchApiSettings(), given).load()

    assert loaded_with[0].onnx_tolerance == 0.05
    assert loaded_with[0].weights == "random"
    assert loaded_with[0].onnx_cache_dir == tmp_path
    assert loaded_with[1] == given
