"""Search by an uploaded image: vectorized here with the vectorizer's model and preprocessing.

The model loads in the background when the service starts; browsing and similar-by-id do not
wait for it, and an upload before it is ready gets a 503 with Retry-After. Without the libraries
it runs on, the API still starts, and the log at start-up and every upload's 503 name them.
An upload is only compared with vectors of its own model: when the index holds another model's,
it gets a 409 that names both (`UploadModel.comparable`), never results that mean nothing.
"""

import asyncio
import importlib.util
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from imgsim_common.model_card import ModelCard
from imgsim_common.records import ModelInfo
from imgsim_common.rejections import ImageRejected, RejectReason
from imgsim_common.representations import Representation
from imgsim_vision.inference import Backend
from imgsim_vision.settings import ModelSettings
from pydantic import ValidationError
from starlette.requests import Request

from imgsim_search_api.errors import RequestError
from imgsim_search_api.index_model import IndexModel
from imgsim_search_api.settings import SearchApiSettings, UploadModelSettings

if TYPE_CHECKING:  # imported when the model loads: it needs OpenCV and Pillow
    from imgsim_vision.images import DecodedImage

log = logging.getLogger(__name__)

TOO_LARGE = (RejectReason.TOO_LARGE, RejectReason.TOO_MANY_PIXELS)
# What upload search imports (module: the package that installs it) and, for the ONNX backend,
# what the export and its runtime import besides. All come with the search-api extra.
LIBRARIES: Mapping[str, str] = {
    "keras": "keras",
    "tensorflow": "tensorflow-cpu",
    "cv2": "opencv-python-headless",
    "PIL": "pillow",
}
ONNX_LIBRARIES: Mapping[str, str] = {
    "onnxruntime": "onnxruntime",
    "tf2onnx": "tf2onnx",
    "onnx": "onnx",
}
INSTALL = "pip install 'imgsim[search-api]'"


def missing_libraries(libraries: Mapping[str, str]) -> list[str]:
    """Those that cannot be imported here, each as `module` or `module (package)`."""
    missing = []
    for module, package in libraries.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ValueError:  # imported already, by a loader that left no spec
            found = True
        if not found:
            missing.append(module if module == package else f"{module} ({package})")
    return missing


@dataclass(frozen=True)
class ReadyModel:
    """What an upload needs, made visible at once: never a backend without its input size."""

    backend: Backend
    info: ModelInfo
    input_size: int
    decode: Callable[[bytes, int, int], "DecodedImage"]  # imgsim_vision.images.decode_bytes
    # The card's representations, name -> dims, as a probe image showed the backend produces.
    produces: Mapping[str, int]
    card: ModelCard


class UploadModel:
    def __init__(self, settings: SearchApiSettings, model: ModelSettings | None = None) -> None:
        """`model`: the model's settings; read from SEARCH_API_MODEL_* when it loads if None."""
        self.settings = settings
        self.model_settings = model
        # Assigned once, whole, when the model is ready: an upload sees None or all of it.
        self.ready: ReadyModel | None = None
        self.failure: str | None = None
        self._lock = asyncio.Lock()

    def _fail(self, failure: str, exc_info: bool = False) -> None:
        self.failure = failure
        log.error("upload search is unavailable: %s", failure, exc_info=exc_info)

    def load(self) -> None:
        try:
            model = self.model_settings or UploadModelSettings()
        except ValidationError as e:
            self._fail(f"the model's settings are wrong: {_problems(e)}")
            return
        missing = missing_libraries(LIBRARIES)
        if missing:
            self._fail(f"it needs {_listed(missing)}, which cannot be imported here ({INSTALL})")
            return
        missing = missing_libraries(ONNX_LIBRARIES) if model.backend == "onnx" else []
        if missing:
            # As when the export fails its check: slower, never unavailable.
            log.warning(
                "upload search runs on TensorFlow, not ONNX: the ONNX backend needs %s, "
                "which cannot be imported here (%s)",
                _listed(missing),
                INSTALL,
            )
            model = model.model_copy(update={"backend": "tensorflow"})
        try:
            from imgsim_vision.images import decode_bytes
            from imgsim_vision.inference import load_model_backend

            loaded, backend = load_model_backend(model)
            # Run once at load: what it produces is known before an upload needs it, and the
            # first upload does not pay for the warm-up.
            probe = np.zeros((1, loaded.input_size, loaded.input_size, 3), np.uint8)
            outputs = backend(probe)
        except ModuleNotFoundError as e:  # one that the libraries above import in turn
            self._fail(f"it needs {e.name or e}, which cannot be imported here ({INSTALL})")
            return
        except Exception as e:  # noqa: BLE001 - the service runs on, without upload search
            self._fail(f"the model cannot be loaded: {e}", exc_info=True)
            return
        # Exactly the card's representations, as the vectorizer emits them into the index.
        card: ModelCard = loaded.card
        produces = {
            r.name: int(outputs[r.name].shape[-1])
            for r in card.representations
            if r.name in outputs
        }
        wrong = [
            f"{r.name} ({r.dims})" for r in card.representations if produces.get(r.name) != r.dims
        ]
        if wrong:
            self._fail(
                f"the model does not produce the representations its card lists: {', '.join(wrong)}"
            )
            return
        self.ready = ReadyModel(
            backend, loaded.info, loaded.input_size, decode_bytes, produces, card
        )
        log.info("upload search ready: %s@%s", loaded.info.name, loaded.info.version)

    def comparable(
        self, index: IndexModel, representations: Sequence[Representation]
    ) -> tuple[ReadyModel, str | None]:
        """The model, if its vectors can be compared with the index's for these representations,
        and the model version to keep the search to when the index mixes versions (else None).

        503 while it loads; 409 when the index holds another model's vectors, or vectors this
        model does not produce."""
        ready = self.ready
        if ready is None:
            message = self.failure or "the model is still loading; try again shortly"
            raise RequestError(503, f"upload search is unavailable: {message}")
        mine = ready.info.version
        only: str | None = None
        if index.model is not None and index.model.version != mine:
            raise _other_model(index, ready, f"model {_named(index.model)}")
        if index.model is None and len(index.versions) > 1:
            if mine not in {v.info.version for v in index.versions}:
                listed = ", ".join(_named(v.info) for v in index.versions)
                raise _other_model(index, ready, f"models {listed}")
            only = mine
        for representation in representations:
            dims = ready.produces.get(representation.name)
            if dims != representation.dims:
                produced = (
                    f"no {representation.name!r} vector"
                    if dims is None
                    else f"{dims}-dimensional {representation.name!r} vectors"
                )
                raise RequestError(
                    409,
                    f"the index {index.index} holds {representation.dims}-dimensional "
                    f"{representation.name!r} vectors; upload search runs {_named(ready.info)}, "
                    f"which produces {produced}: {SAME_MODEL}",
                    **_both(index, ready),
                )
        return ready, only

    async def vectors(self, ready: ReadyModel, data: bytes) -> dict[str, list[float]]:
        """The upload's vectors by `ready` (from `comparable`)."""
        try:
            decoded = await asyncio.to_thread(
                ready.decode, data, ready.input_size, self.settings.max_upload_pixels
            )
        except ImageRejected as e:
            status = 413 if e.reason in TOO_LARGE else 422
            raise RequestError(status, f"the upload is not a usable image: {e.message}") from None
        # One inference at a time: the network already uses every core.
        async with self._lock:
            outputs = await asyncio.to_thread(ready.backend, decoded.pixels[np.newaxis])
        # The card's representations only: an output beyond them is not in any index.
        return {name: outputs[name][0].tolist() for name in ready.produces}


SAME_MODEL = (
    "set SEARCH_API_MODEL_PATH (or SEARCH_API_MODEL_BACKBONE and _WEIGHTS) to the model "
    "that vectorized the index, as the vectorizer's, and restart the search API"
)


def _named(info: ModelInfo) -> str:
    return f"{info.name} version {info.version}"


def _other_model(index: IndexModel, ready: ReadyModel, held: str) -> RequestError:
    return RequestError(
        409,
        f"the index {index.index} holds vectors of {held}; upload search runs "
        f"{_named(ready.info)}: {SAME_MODEL}",
        **_both(index, ready),
    )


def _both(index: IndexModel, ready: ReadyModel) -> dict[str, Any]:
    """The two models, for a client to compare without parsing the message."""
    return {
        "index": index.index,
        "index_model": None if index.model is None else index.model.model_dump(),
        "upload_model": ready.info.model_dump(),
    }


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _problems(error: ValidationError) -> str:
    """One line for all, each named by its environment variable (a field's loc is its alias)."""
    return "; ".join(
        f"{str(e['loc'][0]).upper()}: {e['msg']}" if e["loc"] else e["msg"] for e in error.errors()
    )


async def read_upload(request: Request, limit: int) -> bytes:
    """The uploaded image: a raw body (drag and drop) or the `image` part of a form."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"the upload is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise RequestError(413, f"the upload is larger than {limit} bytes")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return bytes(body)
    form_request = Request(request.scope, _replay(bytes(body)))
    form = await form_request.form(max_files=1, max_fields=10, max_part_size=limit)
    upload: Any = form.get("image")
    if upload is None or not hasattr(upload, "read"):
        raise RequestError(422, "the form has no file in its `image` field")
    data: bytes = await upload.read()
    await form.close()
    return data


def _replay(body: bytes) -> Callable[[], Awaitable[dict[str, Any]]]:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
