"""Search by an uploaded image: read and bounded here, vectorized by the vectorizer over HTTP.

This process holds no model: the vectorizer's embedding endpoint (`SEARCH_API_EMBEDDING_URL`,
`embedding_client.py`) decodes and vectorizes the upload with the model that vectorizes the
collection. An upload is only compared with vectors of its own model: when the index holds
another model's, it gets a 409 that names both (`comparable`), never results that mean nothing.
"""

import asyncio
import io
import json
import logging
import warnings
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from imgsim_common.image_formats import IMAGE_FORMATS
from imgsim_common.records import ModelInfo
from imgsim_common.representations import Representation
from PIL import Image
from starlette.requests import Request

from imgsim_search_api.embedding_client import UploadVectors
from imgsim_search_api.errors import RequestError
from imgsim_search_api.index_model import IndexModel

log = logging.getLogger(__name__)

T = TypeVar("T")

SAME_MODEL = (
    "run the vectorizer that SEARCH_API_EMBEDDING_URL names with the model that vectorized the "
    "index (its VECTORIZER_MODEL_PATH), or point the alias at an index of the upload's model"
)


def comparable(
    index: IndexModel, representations: Sequence[Representation], upload: UploadVectors
) -> str | None:
    """The model version to keep the search to when the index mixes versions (else None), if the
    upload's vectors can be compared with the index's for these representations; else a 409."""
    mine = upload.model.version
    only: str | None = None
    if index.model is not None and index.model.version != mine:
        raise _other_model(index, upload, f"model {_named(index.model)}")
    if index.model is None and len(index.versions) > 1:
        if mine not in {v.info.version for v in index.versions}:
            listed = ", ".join(_named(v.info) for v in index.versions)
            raise _other_model(index, upload, f"models {listed}")
        only = mine
    for representation in representations:
        dims = upload.produces.get(representation.name)
        if dims != representation.dims:
            produced = (
                f"no {representation.name!r} vector"
                if dims is None
                else f"{dims}-dimensional {representation.name!r} vectors"
            )
            raise RequestError(
                409,
                f"the index {index.index} holds {representation.dims}-dimensional "
                f"{representation.name!r} vectors; upload search runs {_named(upload.model)}, "
                f"which produces {produced}: {SAME_MODEL}",
                **_both(index, upload),
            )
    return only


def _named(info: ModelInfo) -> str:
    return f"{info.name} version {info.version}"


def _other_model(index: IndexModel, upload: UploadVectors, held: str) -> RequestError:
    return RequestError(
        409,
        f"the index {index.index} holds vectors of {held}; upload search runs "
        f"{_named(upload.model)}: {SAME_MODEL}",
        **_both(index, upload),
    )


def _both(index: IndexModel, upload: UploadVectors) -> dict[str, Any]:
    """The two models, for a client to compare without parsing the message."""
    return {
        "index": index.index,
        "index_model": None if index.model is None else index.model.model_dump(),
        "upload_model": upload.model.model_dump(),
    }


def check_pixels(data: bytes, max_pixels: int) -> None:
    """413 for an image whose header declares more than `max_pixels`, before it is sent on. Only
    the header is read; whatever Pillow cannot read is for the vectorizer to judge."""
    try:
        with warnings.catch_warnings():
            # Pillow's own warning threshold is not this service's limit: max_pixels is.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as image:
                width, height = image.size
    except Image.DecompressionBombError as e:  # above Pillow's own, process-wide limit
        raise RequestError(
            413, f"the upload has too many pixels: {e}", reason="too_many_pixels"
        ) from None
    except Exception:  # noqa: BLE001 - not an image Pillow reads: the vectorizer says why
        return
    if width * height > max_pixels:
        raise RequestError(
            413,
            f"the upload is {width}x{height}, more than {max_pixels} pixels",
            reason="too_many_pixels",
        )


def is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/form-data")


async def within(seconds: float, reading: Awaitable[T]) -> T:
    """`reading` (of the request's body), or a 408 when it has not arrived within `seconds`: a
    client trickling its upload cannot hold one of the few upload slots."""
    try:
        async with asyncio.timeout(seconds):
            return await reading
    except TimeoutError:
        raise RequestError(
            408,
            f"the upload did not arrive within {seconds:g} s (SEARCH_API_UPLOAD_READ_TIMEOUT_S)",
        ) from None


async def read_upload(request: Request, limit: int) -> bytes:
    """The uploaded image: a raw body (drag and drop) or the `image` part of a form."""
    body = await _read_body(request, limit)
    if not is_form(request):
        return body
    _, image = await _form(request, body, limit)
    if image is None:
        raise RequestError(422, "the form has no file in its `image` field")
    return image


async def read_blend_form(request: Request, limit: int) -> tuple[Any, bytes]:
    """A blend searching by an uploaded image, as a form: the blend's JSON in its `query` field,
    the image in its `image` field."""
    fields, image = await _form(request, await _read_body(request, limit), limit)
    text = fields.get("query")
    if text is None:
        raise RequestError(
            422, "the form has no `query` field (the blend's JSON: clauses, metric, k, ...)"
        )
    if image is None:
        raise RequestError(422, "the form has no file in its `image` field")
    try:
        return json.loads(text), image
    except (ValueError, RecursionError):
        raise RequestError(400, "the form's `query` field must be JSON") from None


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"the upload is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise RequestError(413, f"the upload is larger than {limit} bytes")
    return bytes(body)


async def _form(request: Request, body: bytes, limit: int) -> tuple[dict[str, str], bytes | None]:
    """The form's text fields, and the bytes of its `image` file (None without one)."""
    form = await Request(request.scope, _replay(body)).form(
        max_files=1, max_fields=10, max_part_size=limit
    )
    try:
        upload: Any = form.get("image")
        image = await upload.read() if hasattr(upload, "read") else None
        return {name: value for name, value in form.items() if isinstance(value, str)}, image
    finally:
        await form.close()


def _replay(body: bytes) -> Callable[[], Awaitable[dict[str, Any]]]:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
