"""The views of a painting the heads train on: the image as ingestion decodes it, then variants.

With a frozen backbone, augmentation is a few fixed views per image whose features are computed
once. Each variant is what a painting goes through on its way to a collection: a mirror image, a
crop rescaled, a slightly different colour balance, another JPEG encoding. A view is drawn from
the image's sha1 and its number, so a view is the same on every run and its cached features stay
valid.
"""

import io
import zlib
from typing import Final

import numpy as np
import numpy.typing as npt
from imgsim_vision.images import square
from PIL import Image

Pixels = npt.NDArray[np.uint8]

# Part of the feature cache's key: change it whenever a view's recipe changes.
RECIPE: Final = "views1"


def view(pixels: Pixels, sha1: str, number: int) -> Pixels:
    """View `number` of a decoded (size, size, 3) image; view 0 is the image itself."""
    if number == 0:
        return pixels
    rng = np.random.default_rng(zlib.crc32(f"{sha1}:{number}".encode()))
    size = pixels.shape[0]
    out = pixels[:, ::-1] if rng.random() < 0.5 else pixels
    out = _crop(out, rng, size)
    out = _colour(out, rng)
    if rng.random() < 0.5:
        out = _jpeg(out, int(rng.integers(50, 96)))
    return out


def _crop(pixels: Pixels, rng: np.random.Generator, size: int) -> Pixels:
    # 55-100% of the area, the aspect ratio within 3:4 and 4:3, rescaled back to the input.
    area = rng.uniform(0.55, 1.0)
    aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    width = min(size, max(8, round(size * np.sqrt(area * aspect))))
    height = min(size, max(8, round(size * np.sqrt(area / aspect))))
    top = int(rng.integers(0, size - height + 1))
    left = int(rng.integers(0, size - width + 1))
    return square(np.ascontiguousarray(pixels[top : top + height, left : left + width]), size)


def _colour(pixels: Pixels, rng: np.random.Generator) -> Pixels:
    # Brightness, contrast and saturation each within 10%: a photograph's colour, not a new one.
    values = pixels.astype(np.float32)
    values *= rng.uniform(0.9, 1.1)
    mean = values.mean()
    values = (values - mean) * rng.uniform(0.9, 1.1) + mean
    grey = values.mean(axis=2, keepdims=True)
    values = (values - grey) * rng.uniform(0.9, 1.1) + grey
    jittered: Pixels = np.clip(values + 0.5, 0, 255).astype(np.uint8)
    return jittered


def _jpeg(pixels: Pixels, quality: int) -> Pixels:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as reencoded:
        return np.asarray(reencoded.convert("RGB"), dtype=np.uint8)
