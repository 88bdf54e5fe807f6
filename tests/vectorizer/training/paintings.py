"""A small labelled set painted here: styles that differ by texture, genres by composition.

Colours are drawn independently of the labels, so only what the network sees of texture and
layout can tell the classes apart.
"""

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

STYLES = ("stripes", "dots", "noise", "checks", "smooth")
GENRES = ("landscape", "portrait")
HEADER = ("new_filename", "artist", "genre", "style", "title")


@dataclass(frozen=True)
class Painted:
    filename: str
    artist: str
    genre: str
    style: str


def _texture(
    style: str, height: int, width: int, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    return np.asarray(_marks(style, height, width, rng), dtype=np.float64)


def _marks(style: str, height: int, width: int, rng: np.random.Generator) -> object:
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    period = min(height, width) * rng.uniform(0.12, 0.2)
    if style == "stripes":
        angle = rng.uniform(0, np.pi)
        return (np.sin((x * np.cos(angle) + y * np.sin(angle)) * 2 * np.pi / period) > 0) * 1.0
    if style == "dots":
        return ((np.sin(x * 2 * np.pi / period) * np.sin(y * 2 * np.pi / period)) > 0.6) * 1.0
    if style == "checks":
        return ((x // period + y // period) % 2) * 1.0
    if style == "smooth":
        angle = rng.uniform(0, np.pi)
        ramp = x * np.cos(angle) + y * np.sin(angle)
        return (ramp - ramp.min()) / max(1e-9, float(np.ptp(ramp)))
    return rng.random((height, width))


def paint(style: str, genre: str, rng: np.random.Generator) -> Image.Image:
    height, width = int(rng.integers(48, 97)), int(rng.integers(48, 97))
    texture = _texture(style, height, width, rng)
    # Two random colours far enough apart for the texture to show.
    low = rng.uniform(0, 255, 3)
    high = np.where(low > 127, low - rng.uniform(90, 127), low + rng.uniform(90, 127))
    pixels = low + texture[..., None] * (high - low)
    y, x = np.mgrid[0:height, 0:width]
    if genre == "landscape":
        region = y > height * rng.uniform(0.45, 0.6)
    else:
        region = ((x - width / 2) / (width * 0.3)) ** 2 + (
            (y - height / 2) / (height * 0.35)
        ) ** 2 < 1
    pixels[region] = pixels[region] * 0.35 + rng.uniform(0, 255, 3) * 0.65
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def paint_set(
    folder: Path,
    per_class: int = 10,
    styles: Sequence[str] = STYLES,
    seed: int = 0,
    rare: int = 0,
    extra_rows: Sequence[dict[str, str]] = (),
) -> Path:
    """Paints per_class paintings of each style and genre under `folder`/images, and `rare`
    paintings of a style called "rare"; returns the CSV."""
    rng = np.random.default_rng(seed)
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    painted: list[Painted] = []
    for style in styles:
        for genre in GENRES:
            for n in range(per_class):
                name = f"{style}-{genre}-{n}.{'jpg' if n % 2 else 'png'}"
                paint(style, genre, rng).save(images / name)
                painted.append(Painted(name, f"{style}-artist-{n % 3}", genre, style))
    for n in range(rare):
        name = f"rare-{n}.png"
        paint("noise", GENRES[n % 2], rng).save(images / name)
        painted.append(Painted(name, "rare-artist", GENRES[n % 2], "rare"))
    metadata = folder / "metadata.csv"
    with metadata.open("w", newline="") as f:
        writer = csv.DictWriter(f, HEADER)
        writer.writeheader()
        for p in painted:
            writer.writerow(
                {
                    "new_filename": p.filename,
                    "artist": p.artist,
                    "genre": p.genre,
                    "style": p.style,
                    "title": p.filename,
                }
            )
        for row in extra_rows:
            writer.writerow(row)
    return metadata
