"""Search by an uploaded image: vectorized here with the vectorizer's model and preprocessing.

The model loads in the background when the service starts; browsing and similar-by-id do not
wait for it, and an upload before it is ready gets a 503 with Retry-After.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from imgsim_common.records import ModelInfo
from imgsim_common.rejections import ImageRejected, RejectReason
from imgsim_vision.images import decode_bytes
from imgsim_vision.inference import Backend
from imgsim_vision.settings import ModelSettings
from pydantic import ValidationError
from starlette.requests import Request

from imgsim_search_api.query import RequestError
from imgsim_search_api.settings import SearchApiSettings, UploadModelSettings

log = logging.getLogger(__name__)

TOO_LARGE = (RejectReason.TOO_LARGE, RejectReason.TOO_MANY_PIXELS)


class UploadModel:
    def __init__(self, settings: SearchApiSettings, model: ModelSettings | None = None) -> None:
        """`model`: the model's settings; read from SEARCH_API_MODEL_* when it loads if None."""
        self.settings = settings
        self.model_settings = model
        self.backend: Backend | None = None
        self.info: ModelInfo | None = None
        self.input_size = 0
        self.failure: str | None = None
        self._lock = asyncio.Lock()

    def load(self) -> None:
        from imgsim_vision.inference import load_model_backend

        try:
            model = self.model_settings or UploadModelSettings()
        except ValidationError as e:
            self.failure = f"the model's settings are wrong: {_problems(e)}"
            log.error("upload search is unavailable: %s", self.failure)
            return
        try:
            loaded, self.backend = load_model_backend(model)
        except Exception as e:  # noqa: BLE001 - the service runs on, without upload search
            self.failure = f"the model cannot be loaded: {e}"
            log.exception("upload search is unavailable")
            return
        self.info, self.input_size = loaded.info, loaded.input_size
        log.info("upload search ready: %s@%s", loaded.info.name, loaded.info.version)

    async def vectors(self, data: bytes) -> dict[str, list[float]]:
        if self.backend is None:
            message = self.failure or "the model is still loading; try again shortly"
            raise RequestError(503, f"upload search is unavailable: {message}")
        try:
            decoded = await asyncio.to_thread(
                decode_bytes, data, self.input_size, self.settings.max_upload_pixels
            )
        except ImageRejected as e:
            status = 413 if e.reason in TOO_LARGE else 422
            raise RequestError(status, f"the upload is not a usable image: {e.message}") from None
        backend = self.backend
        # One inference at a time: the network already uses every core.
        async with self._lock:
            outputs = await asyncio.to_thread(backend, decoded.pixels[np.newaxis])
        return {name: values[0].tolist() for name, values in outputs.items()}


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
