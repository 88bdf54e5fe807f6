"""Search by an uploaded image: read and bounded here, vectorized by the vectorizer over HTTP.

This process holds no model: the vectorizer's embedding endpoint (`SEARCH_API_EMBEDDING_URL`,
`embedding_client.py`) decodes and vectorizes the upload with the model that vectorizes the
collection. An upload is only compared with vectors of its own model: when the index holds
another model's, it gets a 409 that names both (`comparable`), never results that mean nothing.
"""

import io
import logging
import warnings
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from imgsim_common.image_formats import IMAGE_FORMATS
from imgsim_common.records import ModelInfo
from imgsim_common.representations import Representation
from PIL import Image
from starlette.requests import Request

from imgsim_search_api.embedding_client import UploadVectors
from imgsim_search_api.errors import RequestError
from imgsim_search_api.index_model import IndexModel

log = logging.getLogger(__name__)

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
