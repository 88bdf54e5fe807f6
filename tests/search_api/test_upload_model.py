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
from imgsim_common import mapping
from imgsim_common.model_card import RepresentationCard, backbone_card
from imgsim_common.records import ModelInfo
from imgsim_common.representations import REPRESENTATIONS
from imgsim_search_api.app import create_app
from imgsim_search_api.errors import RequestError
from imgsim_search_api.settings import SearchApiSettings
from imgsim_search_api.upload import UploadModel
from imgsim_vision import inference
from imgsim_vision.settings import ModelSettings
from PIL import Image

from tests.search_api.fixtures import IndexStandIn, card, watching

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
    # The backbone's three representations, as the stand-in backend produces them.
    card = backbone_card("stand-in", 32, "random", "1")

    def __init__(self) -> None:
        self.reading = threading.Event()
        self.release = threading.Event()

    @property
    def info(self) -> ModelInfo:
        self.reading.set()
        assert self.release.wait(30)
        return ModelInfo(name="stand-in", version="1")


class OneHitElasticsearch:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    async def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        self.bodies.append(body)
        return {"hits": {"hits": [{"_id": "a.jpg", "_score": 0.9, "_source": {}}]}}


def upload(
    model: UploadModel,
    index: IndexStandIn | None = None,
    es: OneHitElasticsearch | None = None,
    representation: str = "all",
) -> httpx.Response:
    app = create_app(SETTINGS)
    app.state.es, app.state.settings, app.state.upload_model = (
        es or OneHitElasticsearch(),
        SETTINGS,
        model,
    )
    app.state.index_watch = watching(index)

    async def post() -> httpx.Response:
        # An exception the app lets out is the 500 a client would get.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            headers = {"Content-Type": "image/png"}
            return await client.post(
                "/similar/upload",
                content=png(),
                headers=headers,
                params={"representation": representation},
            )

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
        model.comparable(asyncio.run(watching().current()), REPRESENTATIONS)
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


def ready_model(monkeypatch: pytest.MonkeyPatch) -> UploadModel:
    """Loaded: the stand-in backend, model `stand-in` version 1, the backbone's three vectors."""
    loaded = SlowlyLoadedModel()
    loaded.release.set()
    monkeypatch.setattr(inference, "load_model_backend", lambda _: (loaded, stand_in_backend))
    model = UploadModel(SETTINGS, ModelSettings(backend="tensorflow"))
    model.load()
    assert model.ready is not None
    return model


def carded(version: str, *trained: tuple[str, int]) -> IndexStandIn:
    """The index of a model version, whose card names the version."""
    made = card(version, *trained, name="indexed")
    return IndexStandIn(f"paintings-model-{version}", mapping.model_index(made)["mappings"])


def test_the_model_probed_at_load_says_what_it_produces(monkeypatch: pytest.MonkeyPatch) -> None:
    model = ready_model(monkeypatch)

    assert model.ready is not None
    assert model.ready.produces == {r.name: r.dims for r in REPRESENTATIONS}


def test_an_index_of_the_upload_s_own_model_version_is_searched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    es = OneHitElasticsearch()

    response = upload(ready_model(monkeypatch), carded("1"), es)

    assert response.status_code == 200, response.text
    assert response.json()["index"] == "paintings-model-1"
    assert response.json()["only_model_version"] is None
    assert len(es.bodies) == 3 and all("filter" not in body["knn"] for body in es.bodies)


def test_an_index_of_another_model_version_is_a_409_that_names_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    es = OneHitElasticsearch()

    response = upload(ready_model(monkeypatch), carded("2"), es)

    assert response.status_code == 409
    body = response.json()
    assert body["error"].startswith(
        "the index paintings-model-2 holds vectors of model indexed version 2; "
        "upload search runs stand-in version 1: set SEARCH_API_MODEL_PATH"
    )
    assert body["index_model"] == {"name": "indexed", "version": "2"}
    assert body["upload_model"] == {"name": "stand-in", "version": "1"}
    assert es.bodies == []  # nothing searched, no results that mean nothing


def test_an_index_that_mixes_versions_is_searched_among_the_upload_s_own_paintings_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    es = OneHitElasticsearch()
    mixed = IndexStandIn(versions={"1": ("stand-in", 3), "0": ("older", 5)})

    response = upload(ready_model(monkeypatch), mixed, es, representation="mid")

    assert response.status_code == 200, response.text
    assert response.json()["only_model_version"] == "1"
    (body,) = es.bodies
    assert body["knn"]["filter"]["bool"]["filter"] == [{"term": {"model.version": "1"}}]


def test_an_index_that_mixes_other_versions_only_is_a_409(monkeypatch: pytest.MonkeyPatch) -> None:
    mixed = IndexStandIn(versions={"2": ("newer", 3), "0": ("older", 5)})

    response = upload(ready_model(monkeypatch), mixed)

    assert response.status_code == 409
    assert "holds vectors of models newer version 2, older version 0" in response.json()["error"]


def test_a_representation_the_upload_s_model_does_not_produce_is_a_409(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Nothing says the index's model (no painting yet), but its vectors say it is another one.
    unknown = IndexStandIn(mappings=carded("9", ("trained_style", 8)).mappings)
    del unknown.mappings["_meta"]

    response = upload(ready_model(monkeypatch), unknown, representation="style,trained_style")
    all_of_them = upload(ready_model(monkeypatch), unknown)
    style = upload(ready_model(monkeypatch), unknown, representation="style")

    assert response.status_code == all_of_them.status_code == 409
    assert (
        "upload search runs stand-in version 1, which produces no 'trained_style' vector"
        in (response.json()["error"])
    )
    assert style.status_code == 200, style.text


def test_a_model_that_does_not_produce_its_card_s_representations_is_not_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loaded = SlowlyLoadedModel()
    loaded.release.set()
    extra = RepresentationCard(name="trained_style", dims=8, description="", source="trained")
    loaded.card = loaded.card.model_copy(
        update={"representations": [*loaded.card.representations, extra]}
    )
    monkeypatch.setattr(inference, "load_model_backend", lambda _: (loaded, stand_in_backend))
    model = UploadModel(SETTINGS, ModelSettings(backend="tensorflow"))

    model.load()

    assert model.ready is None
    assert model.failure == (
        "the model does not produce the representations its card lists: trained_style (8)"
    )


def test_outputs_beyond_the_card_s_are_not_offered(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = SlowlyLoadedModel()
    loaded.release.set()
    loaded.card = loaded.card.model_copy(
        update={"representations": loaded.card.representations[:2]}
    )
    monkeypatch.setattr(inference, "load_model_backend", lambda _: (loaded, stand_in_backend))
    model = UploadModel(SETTINGS, ModelSettings(backend="tensorflow"))

    model.load()

    assert model.ready is not None
    assert model.ready.produces == {"global": 960, "mid": 112}
