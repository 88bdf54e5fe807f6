"""From an image file to the network's input: checked, decoded, oriented, RGB and square.

Every way a file can be bad ends in `ImageRejected` with a `RejectReason`, so the stream worker
dead-letters it and carries on. Pillow's globals (`MAX_IMAGE_PIXELS`, `LOAD_TRUNCATED_IMAGES`)
are never changed here: the limits are arguments, and truncated files stay errors.
"""

import hashlib
import io
import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from imgsim_common.image_formats import IMAGE_FORMATS as FORMATS
from imgsim_common.rejections import ImageRejected, RejectReason
from PIL import Image, ImageOps, UnidentifiedImageError

# The decode threads are the parallelism: OpenCV must not start a pool of its own per resize.
cv2.setNumThreads(1)

_ORIENTATION = 0x0112
_SWAPS_AXES = frozenset({5, 6, 7, 8})
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA"})
# What Pillow's plugins and decoders raise on bad data once a format has been identified.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, struct.error)
# A FIFO planted under the root must not block the worker in open().
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


@dataclass(frozen=True)
class DecodedImage:
    pixels: npt.NDArray[np.uint8]  # (size, size, 3), RGB
    width: int  # of the original, after EXIF orientation
    height: int
    sha1: str  # of the file's bytes


def decode_image(path: Path, size: int, max_bytes: int, max_pixels: int) -> DecodedImage:
    return decode_bytes(read_image_file(path, max_bytes), size, max_pixels, str(path))


def decode_bytes(data: bytes, size: int, max_pixels: int, path: str = "upload") -> DecodedImage:
    """Decodes an image already in memory (an upload); `path` only names it in errors."""
    if not data:
        raise ImageRejected(RejectReason.EMPTY, f"{path} is empty")
    sha1 = hashlib.sha1(data, usedforsecurity=False).hexdigest()
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageRejected(
                    RejectReason.TOO_MANY_PIXELS,
                    f"{path}: {width}x{height} is more than {max_pixels} pixels",
                )
            if width == 0 or height == 0:
                raise ImageRejected(RejectReason.CORRUPT, f"{path}: {width}x{height} has no pixels")
            # Only JPEG implements draft: libjpeg decodes at 1/2, 1/4 or 1/8 scale, which makes a
            # photo of a painting several times cheaper. Each side stays at least 3/4 of the
            # input size: the resize then enlarges a side by 1.33x at most, a loss the network
            # does not notice, and a 512x384 JPEG decodes at 256x192 instead of in full.
            side = size * 3 // 4
            image.draft("RGB", (side, side))
            image.load()
            # A PNG's eXIf chunk may follow the pixels, so orientation is read after load().
            if image.getexif().get(_ORIENTATION) in _SWAPS_AXES:
                width, height = height, width
            ImageOps.exif_transpose(image, in_place=True)
            rgb = np.asarray(to_rgb(image), dtype=np.uint8)
    except Image.DecompressionBombError as e:  # above Pillow's own, process-wide limit
        raise ImageRejected(RejectReason.TOO_MANY_PIXELS, f"{path}: {e}") from e
    except UnidentifiedImageError as e:
        raise ImageRejected(
            RejectReason.NOT_AN_IMAGE, f"{path} is not an image in {', '.join(FORMATS)}"
        ) from e
    except _DECODE_ERRORS as e:
        raise ImageRejected(RejectReason.CORRUPT, f"{path}: {type(e).__name__}: {e}") from e
    return DecodedImage(square(rgb, size), width, height, sha1)


def square(rgb: npt.NDArray[np.uint8], size: int) -> npt.NDArray[np.uint8]:
    """Squashed to size x size, never cropped: a painting's composition is part of its look.

    OpenCV rather than Pillow: its SIMD resize is about 6x faster here (0.09 vs 0.55 ms from
    256x192), and on two cores every decode millisecond is taken from the network. An image
    whose sides both shrink by 2x or more is first averaged down by that whole factor (the
    cheap exact case of INTER_AREA), so fine brushwork does not alias; bilinear does the rest.
    """
    height, width = rgb.shape[:2]
    factor = min(width, height) // size
    # OpenCV keeps uint8 in, uint8 out; its stubs only say "some array".
    pixels: Any = rgb
    if factor > 1:
        pixels = cv2.resize(
            pixels, None, fx=1 / factor, fy=1 / factor, interpolation=cv2.INTER_AREA
        )
    return np.asarray(cv2.resize(pixels, (size, size), interpolation=cv2.INTER_LINEAR), np.uint8)


def read_image_file(path: Path, max_bytes: int) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | _NONBLOCK)
    except (FileNotFoundError, NotADirectoryError) as e:
        raise ImageRejected(RejectReason.MISSING, f"{path} does not exist") from e
    except OSError as e:
        raise ImageRejected(RejectReason.UNREADABLE, f"cannot open {path}: {e.strerror}") from e
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise ImageRejected(RejectReason.UNREADABLE, f"{path} is {kind}")
        if info.st_size == 0:
            raise ImageRejected(RejectReason.EMPTY, f"{path} is empty")
        if info.st_size > max_bytes:
            raise ImageRejected(
                RejectReason.TOO_LARGE, f"{path} has {info.st_size} bytes, more than {max_bytes}"
            )
        with open(fd, "rb", closefd=False) as f:
            # One byte more than allowed: a file that grew since fstat is still caught.
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise ImageRejected(RejectReason.UNREADABLE, f"cannot read {path}: {e.strerror}") from e
    finally:
        os.close(fd)
    if not data:
        raise ImageRejected(RejectReason.EMPTY, f"{path} is empty")
    if len(data) > max_bytes:
        raise ImageRejected(RejectReason.TOO_LARGE, f"{path} has more than {max_bytes} bytes")
    return data


def to_rgb(image: Image.Image) -> Image.Image:
    """Any mode as 8-bit RGB; transparent areas become white, as on a page."""
    if image.mode.startswith("I"):
        # 16-bit (and 32-bit integer) grayscale: Pillow's convert() would clip at 255, not scale.
        levels = np.clip(np.asarray(image), 0, 65535).astype(np.uint16) >> 8
        return Image.fromarray(levels.astype(np.uint8)).convert("RGB")
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", image.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image if image.mode == "RGB" else image.convert("RGB")
