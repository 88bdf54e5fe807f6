"""Upload search's model while it loads and when its libraries are missing: a 503 that says
why, never a 500. The model is a stand-in and Elasticsearch too; the API runs in-process."""

import asyncio
import io
import logging
import sys
import threading
from typing import Any

import httpx
import numpy as np
import pytest
from imgsim_common.records import ModelInfo
from imgsim_common.representations import REPRESENTATIONS
from imgsim_search_api.app import create_app
from imgsim_search_api.errors import RequestError
from imgsim_search_api.settings import SearchApiSettings
from imgsim_search_api.upload import UploadModel
from imgsim_vision import inference
from imgsim_vision.settings import ModelSettings
from PIL import Image

SETTINGS = SearchApiSettings()


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 120, 40)).save(buffer, "PNG")
    return buffer.getvalue()


def stand_in_backend(pixels: Any) -> dict[str, Any]:
    assert pixels.shape == (1, 32, 32, 3)
    return {r.name: np.full((1, r.dims), 0.5, np.float32) for r in REPRESENTATIONS}


class SlowlyLoadedModel:
    """A loaded model whose facts arrive one by one: `info` waits until released."""

    input_size = 32

    def __init__(self) -> None:
        self.reading = threading.Event()
        self.release = threading.Event()

    @property
    def info(self) -> ModelInfo:
        self.reading.set()
        assert self.release.wait(30)
        return ModelInfo(name="stand-in", version="1")


class OneHitElasticsearch:
    async def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"hits": {"hits": [{"_id": "a.jpg", "_score": 0.9, "_source": {}}]}}


def upload(model: UploadModel) -> httpx.Response:
    app = create_app(SETTINGS)
    app.state.es, app.state.settings, app.state.upload_model = (
        OneHitElasticsearch(),
        SETTINGS,
        model,
    )

    async def post() -> httpx.Response:
        # An exception the app lets out is the 500 a client would get.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            headers = {"Content-Type": "image/png"}
            return await client.post("/similar/upload", content=png(), headers=headers)

    return asyncio.run(post())


def test_an_upload_while_the_model_loads_is_a_503_until_all_of_it_is_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loaded = SlowlyLoadedModel()
    monkeypatch.setattr(inference, "load_model_backend", lambda _: (loaded, stand_in_backend))
    model = UploadModel(SETTINGS, ModelSettings(backend="tensorflow"))
    loading = threading.Thread(target=model.load)
    loading.start()
    try:
        assert loaded.reading.wait(30)  # the backend is built, the rest not yet read
        during = upload(model)
    finally:
        loaded.release.set()
        loading.join(30)
    after = upload(model)

    assert during.status_code == 503, during.text
    assert "still loading" in during.json()["error"]
    assert during.headers["retry-after"] == str(SETTINGS.retry_after_s)
    assert after.status_code == 200, after.text
    assert after.json()["model"] == {"name": "stand-in", "version": "1"}
    assert after.json()["results"][0]["hits"][0]["id"] == "a.jpg"


def test_missing_libraries_are_named_in_the_log_at_start_up_and_in_the_503(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for module in ("keras", "tensorflow"):
        monkeypatch.setitem(sys.modules, module, None)  # what `import keras` then refuses
    loads: list[ModelSettings] = []
    monkeypatch.setattr(inference, "load_model_backend", loads.append)
    model = UploadModel(SETTINGS, ModelSettings())

    with caplog.at_level(logging.ERROR, logger="imgsim_search_api.upload"):
        model.load()
    response = upload(model)

    assert loads == []
    assert response.status_code == 503
    message = response.json()["error"]
    assert message.startswith("upload search is unavailable: it needs keras and tensorflow")
    assert "(tensorflow-cpu)" in message and "pip install 'imgsim[search-api]'" in message
    assert "keras and tensorflow (tensorflow-cpu)" in caplog.text


def test_a_module_missing_deeper_down_is_named_too(monkeypatch: pytest.MonkeyPatch) -> None:
    def load_model_backend(settings: ModelSettings) -> Any:
        raise ModuleNotFoundError("No module named 'h5py'", name="h5py")

    monkeypatch.setattr(inference, "load_model_backend", load_model_backend)
    model = UploadModel(SETTINGS, ModelSettings())

    model.load()

    with pytest.raises(RequestError) as refused:
        asyncio.run(model.vectors(png()))
    assert refused.value.status == 503
    assert "it needs h5py, which cannot be imported here" in refused.value.message


def test_without_the_onnx_libraries_upload_search_runs_on_tensorflow_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    loaded = SlowlyLoadedModel()
    loaded.release.set()
    loads: list[ModelSettings] = []

    def load_model_backend(settings: ModelSettings) -> Any:
        loads.append(settings)
        return loaded, stand_in_backend

    monkeypatch.setattr(inference, "load_model_backend", load_model_backend)
    model = UploadModel(SETTINGS, ModelSettings(backend="onnx"))

    with caplog.at_level(logging.WARNING, logger="imgsim_search_api.upload"):
        model.load()

    assert [settings.backend for settings in loads] == ["tensorflow"]
    assert "the ONNX backend needs onnxruntime" in caplog.text
    assert model.ready is not None and model.failure is None
