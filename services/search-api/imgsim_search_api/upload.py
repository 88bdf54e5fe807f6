"""Search by an uploaded image: vectorized here with the vectorizer's model and preprocessing.

The model loads in the background when the service starts; browsing and similar-by-id do not
wait for it, and an upload before it is ready gets a 503 with Retry-After. Without the libraries
it runs on, the API still starts, and the log at start-up and every upload's 503 name them.
"""

import asyncio
import importlib.util
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from imgsim_common.records import ModelInfo
from imgsim_common.rejections import ImageRejected, RejectReason
from imgsim_vision.inference import Backend
from imgsim_vision.settings import ModelSettings
from pydantic import ValidationError
from starlette.requests import Request

from imgsim_search_api.errors import RequestError
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


class UploadModel:
    def __init__(self, settings: SearchApiSettings, model: ModelSettings | None = None) -> None:
        """`model`: the model's settings; read from SEARCH_API_MODEL_* when it loads if None."""
        self.settings = settings
        self.model_settings = model
        # Assigned once, whole, when the model is ready: an upload sees None or all of it.
        self.ready: ReadyModel | None = None
        self.failure: str | None = None
        self._lock = asyncio.Lock()

    @property
    def info(self) -> ModelInfo | None:
        return None if self.ready is None else self.ready.info

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
        except ModuleNotFoundError as e:  # one that the libraries above import in turn
            self._fail(f"it needs {e.name or e}, which cannot be imported here ({INSTALL})")
            return
        except Exception as e:  # noqa: BLE001 - the service runs on, without upload search
            self._fail(f"the model cannot be loaded: {e}", exc_info=True)
            return
        self.ready = ReadyModel(backend, loaded.info, loaded.input_size, decode_bytes)
        log.info("upload search ready: %s@%s", loaded.info.name, loaded.info.version)

    async def vectors(self, data: bytes) -> dict[str, list[float]]:
        ready = self.ready
        if ready is None:
            message = self.failure or "the model is still loading; try again shortly"
            raise RequestError(503, f"upload search is unavailable: {message}")
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
        return {name: values[0].tolist() for name, values in outputs.items()}


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
