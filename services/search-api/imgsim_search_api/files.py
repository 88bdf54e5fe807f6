"""Original images and cached thumbnails by painting id, never from outside the image root.

A painting whose file cannot be served is counted by reason (`IMAGE_MISSES`, the reasons
ingestion dead-letters such files with) and answered with that reason, so that the gallery can
show a placeholder that says so. Thumbnails open only the formats ingestion takes.
"""

import asyncio
import hashlib
import io
import logging
import os
import re
import uuid
from pathlib import Path
from typing import Any

from elasticsearch import AsyncElasticsearch, NotFoundError
from imgsim_common.image_formats import IMAGE_FORMATS
from imgsim_common.image_paths import resolve_image_path
from imgsim_common.rejections import ImageRejected, RejectReason
from PIL import Image, ImageOps, UnidentifiedImageError
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from imgsim_search_api.errors import RequestError
from imgsim_search_api.metrics import IMAGE_MISSES

log = logging.getLogger(__name__)

THUMBNAIL_SIZES = (128, 256, 512)
CACHE_CONTROL = "public, max-age=86400"
# The version names the cached thumbnail's file: only a hex digest may do so as it is.
_HEX = re.compile(r"[0-9a-f]{1,64}")
for _reason in RejectReason:  # every series from the start, so that rate() sees the first miss
    IMAGE_MISSES.labels(_reason.value)


def _miss(reason: RejectReason, status: int, message: str) -> RequestError:
    IMAGE_MISSES.labels(reason.value).inc()
    return RequestError(status, message, reason=reason.value)


async def painting_file(
    es: AsyncElasticsearch, index: str, image_root: Path, painting_id: str
) -> tuple[Path, str]:
    """The painting's file under the image root and its version (the file's sha1)."""
    try:
        document = await es.get(index=index, id=painting_id, source_includes=["path", "sha1"])
    except NotFoundError:
        raise RequestError(404, f"no painting {painting_id!r}") from None
    source: dict[str, Any] = document["_source"]
    try:
        path = resolve_image_path(image_root, str(source.get("path", "")))
    except ImageRejected as e:
        status = 404 if e.reason == RejectReason.OUTSIDE_ROOT else 422
        raise _miss(e.reason, status, f"no image for painting {painting_id!r}") from None
    if not path.exists():
        raise _miss(RejectReason.MISSING, 404, f"the image of painting {painting_id!r} is missing")
    if not path.is_file():  # a folder, or a FIFO that would block the open below
        raise _miss(
            RejectReason.UNREADABLE, 422, f"the image of painting {painting_id!r} is not a file"
        )
    # Opened once here, so that a file the API may not read is told apart from a missing one
    # before any response starts.
    try:
        with path.open("rb"):
            pass
    except OSError as e:
        raise _miss(
            RejectReason.UNREADABLE,
            422,
            f"the image of painting {painting_id!r} cannot be read: {e.strerror or e}",
        ) from None
    version = str(
        source.get("sha1") or hashlib.sha1(str(path.stat().st_mtime_ns).encode()).hexdigest()
    )
    if not _HEX.fullmatch(version):
        version = hashlib.sha1(version.encode()).hexdigest()
    return path, version


def _not_modified(request: Request, etag: str) -> Response | None:
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": CACHE_CONTROL})
    return None


async def original(request: Request, path: Path, version: str) -> Response:
    etag = f'"{version}"'
    cached = _not_modified(request, etag)
    if cached is not None:
        return cached
    return FileResponse(path, headers={"ETag": etag, "Cache-Control": CACHE_CONTROL})


def thumbnail_size(text: str | None) -> int:
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    size = 256 if text is None else int(text) if text.isascii() and text.isdigit() else -1
    if size not in THUMBNAIL_SIZES:
        raise RequestError(
            400, f"size must be one of {list(THUMBNAIL_SIZES)}", valid=THUMBNAIL_SIZES
        )
    return size


def _render(path: Path, size: int) -> bytes:
    with Image.open(path, formats=IMAGE_FORMATS) as source:
        source.draft("RGB", (size, size))
        small = ImageOps.exif_transpose(source).convert("RGB")
        small.thumbnail((size, size), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        small.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _store(thumbnail: bytes, target: Path) -> None:
    """Into the cache under a name of its own, then renamed into place: requests rendering one
    thumbnail at once each rename a whole file of equal bytes, and a reader never sees a part."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{uuid.uuid4().hex}.partial")
    try:
        partial.write_bytes(thumbnail)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _render_failure(error: Exception, painting: str) -> RequestError:
    if isinstance(error, FileNotFoundError):  # removed since it was looked up
        return _miss(RejectReason.MISSING, 404, f"the image of {painting} is missing")
    if isinstance(error, PermissionError | IsADirectoryError):
        return _miss(RejectReason.UNREADABLE, 422, f"the image of {painting} cannot be read")
    if isinstance(error, UnidentifiedImageError):
        return _miss(
            RejectReason.NOT_AN_IMAGE,
            422,
            f"the file of {painting} is not an image in {', '.join(IMAGE_FORMATS)}, "
            "the formats the collection takes",
        )
    if isinstance(error, Image.DecompressionBombError):
        return _miss(RejectReason.TOO_MANY_PIXELS, 422, f"the image of {painting} is too large")
    message = f"the image of {painting} cannot be made into a thumbnail: {error}"
    return _miss(RejectReason.CORRUPT, 422, message)


async def thumbnail(
    request: Request, path: Path, version: str, size: int, cache_dir: Path
) -> Response:
    tag = f'"{version}-{size}"'
    headers = {"ETag": tag, "Cache-Control": CACHE_CONTROL}
    cached = _not_modified(request, tag)
    if cached is not None:
        return cached
    target = cache_dir / f"{version}-{size}.jpg"
    if target.exists():
        return FileResponse(target, media_type="image/jpeg", headers=headers)
    try:
        rendered = await asyncio.to_thread(_render, path, size)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        painting = f"painting {request.path_params.get('painting_id', path.name)!r}"
        raise _render_failure(e, painting) from None
    try:
        await asyncio.to_thread(_store, rendered, target)
    except OSError as e:  # the thumbnail is still good: it is served, only not kept
        log.warning("thumbnail cache %s refused %s: %s", cache_dir, target.name, e)
    return Response(rendered, media_type="image/jpeg", headers=headers)
