"""Original images and cached thumbnails by painting id, never from outside the image root."""

import asyncio
import hashlib
import io
from pathlib import Path
from typing import Any

from elasticsearch import AsyncElasticsearch, NotFoundError
from imgsim_common.image_paths import resolve_image_path
from imgsim_common.rejections import ImageRejected, RejectReason
from PIL import Image, ImageOps
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from imgsim_search_api.query import RequestError

THUMBNAIL_SIZES = (128, 256, 512)
CACHE_CONTROL = "public, max-age=86400"


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
        status = 404 if e.reason == RejectReason.OUTSIDE_ROOT else 500
        raise RequestError(status, f"no image for painting {painting_id!r}") from None
    if not path.is_file():
        raise RequestError(404, f"the image of painting {painting_id!r} is missing")
    version = str(
        source.get("sha1") or hashlib.sha1(str(path.stat().st_mtime_ns).encode()).hexdigest()
    )
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
    size = 256 if text is None else int(text) if text.isdigit() else -1
    if size not in THUMBNAIL_SIZES:
        raise RequestError(
            400, f"size must be one of {list(THUMBNAIL_SIZES)}", valid=THUMBNAIL_SIZES
        )
    return size


def _render(path: Path, size: int, target: Path) -> None:
    with Image.open(path) as source:
        source.draft("RGB", (size, size))
        small = ImageOps.exif_transpose(source).convert("RGB")
        small.thumbnail((size, size), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        small.save(buffer, "JPEG", quality=85)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(buffer.getvalue())
    partial.rename(target)


async def thumbnail(
    request: Request, path: Path, version: str, size: int, cache_dir: Path
) -> Response:
    tag = f'"{version}-{size}"'
    cached = _not_modified(request, tag)
    if cached is not None:
        return cached
    target = cache_dir / f"{version}-{size}.jpg"
    if not target.exists():
        try:
            await asyncio.to_thread(_render, path, size, target)
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise RequestError(422, f"the image cannot be made into a thumbnail: {e}") from None
    return FileResponse(
        target, media_type="image/jpeg", headers={"ETag": tag, "Cache-Control": CACHE_CONTROL}
    )
