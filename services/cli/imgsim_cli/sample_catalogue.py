"""The catalogue of a generated sample set: which paintings there are, how they are painted and
saved, and `all_data_info.csv`, the row of each.

Every painting has its own random generator, seeded by the set's seed and its number, so the
paintings come out the same whichever process paints them and in whatever order.
"""

import csv
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Final

import numpy as np

from imgsim_cli.sample_artists import Artist, painting_genre, painting_hand
from imgsim_cli.sample_scenes import Palette, compose, palette_pool
from imgsim_cli.sample_set import SOURCE
from imgsim_cli.sample_techniques import Hand, paint

COLUMNS: Final = (
    "artist", "date", "genre", "pixelsx", "pixelsy", "size_bytes", "source", "style", "title",
    "artist_group", "in_train", "new_filename",
)  # fmt: skip
HELD_OUT_SHARE: Final = 0.2  # of a seen artist's paintings
PALETTES, PNG_SHARE = 48, 0.1
ASPECTS: Final = (1.0, 1.25, 4 / 3, 1.5, 1.6)
# Streams of the set's seed, one per use, so that changing one use leaves the others alone.
ROSTER_STREAM, PLAN_STREAM, PALETTE_STREAM, PAINTING_STREAM = 1, 2, 3, 4
_TITLES: Final = {
    "landscape": ("Hills", "Valley", "Fields", "Orchard", "Road"),
    "marina": ("Harbour", "Open Sea", "Regatta", "Bay", "Shore"),
    "portrait": ("Portrait of a Woman", "Self-Portrait", "The Sitter", "Young Man", "Old Friend"),
    "still life": ("Vase and Fruit", "Bottles", "Table", "Jugs", "Breakfast"),
    "cityscape": ("Avenue", "Rooftops", "Old Town", "Bridge Street", "Towers"),
    "abstract": ("Composition", "Rhythm", "Untitled", "Study", "Movement"),
}
_WHEN: Final = ("at Dusk", "in Spring", "after Rain", "at Noon", "in Winter", "", "II", "III")


@dataclass(frozen=True)
class Painting:
    filename: str  # relative to the set's folder
    artist: Artist
    hand: Hand
    genre: str
    palette: Palette
    size: tuple[int, int]
    title: str
    year: int
    in_train: bool
    seed: tuple[int, ...]
    jpeg_quality: int | None  # None: saved as PNG


def plan(
    artists: list[Artist], per_artist: int, sides: tuple[int, int], seed: int
) -> list[Painting]:
    rng = np.random.default_rng([seed, PLAN_STREAM])
    palettes = palette_pool(np.random.default_rng([seed, PALETTE_STREAM]), PALETTES)
    # At least one when there are two: the seen artists' test split must not be empty.
    held_out = max(round(HELD_OUT_SHARE * per_artist), min(per_artist - 1, 1))
    # Numbered in random order: neither a file name nor an id says whose painting it is.
    numbers = rng.permutation(len(artists) * per_artist) + 1
    paintings = []
    for a, artist in enumerate(artists):
        out_of_train = set(rng.permutation(per_artist)[:held_out].tolist())
        for i in range(per_artist):
            genre = painting_genre(artist, rng)
            png = rng.random() < PNG_SHARE
            number = int(numbers[a * per_artist + i])
            paintings.append(
                Painting(
                    filename=f"{number:05d}.{'png' if png else 'jpg'}",
                    artist=artist,
                    hand=painting_hand(artist, rng),
                    genre=genre,
                    palette=palettes[int(rng.integers(len(palettes)))],
                    size=_size(genre, sides, rng),
                    title=f"{rng.choice(_TITLES[genre])} {rng.choice(_WHEN)}".strip(),
                    year=int(rng.integers(artist.active[0], artist.active[1] + 1)),
                    in_train=artist.seen and i not in out_of_train,
                    seed=(seed, PAINTING_STREAM, number),
                    jpeg_quality=None if png else int(rng.integers(80, 96)),
                )
            )
    return paintings


def _size(genre: str, sides: tuple[int, int], rng: np.random.Generator) -> tuple[int, int]:
    low, high = sides
    long_side = int(rng.integers(low, high + 1))
    short_side = max(low, round(long_side / ASPECTS[int(rng.integers(len(ASPECTS)))]))
    # Portraits mostly stand, the other genres mostly lie.
    upright = rng.random() < (0.8 if genre == "portrait" else 0.25)
    return (short_side, long_side) if upright else (long_side, short_side)


def paint_all(
    folder: Path, paintings: list[Painting], workers: int, on_painted: Callable[[int, int], None]
) -> list[int]:
    """Saves every painting in `folder`; their sizes in bytes, in the order given."""
    sizes = []
    if workers <= 1:
        for painting in paintings:
            sizes.append(paint_one(folder, painting))
            on_painted(len(sizes), len(paintings))
        return sizes
    # spawn, not fork: the caller may run threads (TensorFlow's, the Kafka clients').
    with ProcessPoolExecutor(min(workers, os.cpu_count() or 1), get_context("spawn")) as pool:
        for size_bytes in pool.map(paint_one, [folder] * len(paintings), paintings, chunksize=4):
            sizes.append(size_bytes)
            on_painted(len(sizes), len(paintings))
    return sizes


def paint_one(folder: Path, painting: Painting) -> int:
    rng = np.random.default_rng(list(painting.seed))
    scene = compose(painting.genre, painting.palette, painting.size, rng)
    image = paint(painting.artist.style, scene, painting.palette, painting.hand, rng)
    path = folder / painting.filename
    if painting.jpeg_quality is None:
        image.save(path, format="PNG")
    else:
        image.save(path, format="JPEG", quality=painting.jpeg_quality)
    return path.stat().st_size


def write_csv(csv_path: Path, paintings: list[Painting], sizes: list[int]) -> None:
    """Painter by Numbers' columns, one row per painting, in file name order."""
    held_out_artists = {p.artist.name for p in paintings if not p.in_train}
    with csv_path.open("w", newline="", encoding="utf-8") as out:
        rows = csv.writer(out)
        rows.writerow(COLUMNS)
        for painting, size_bytes in sorted(
            zip(paintings, sizes, strict=True), key=lambda pair: pair[0].filename
        ):
            artist = painting.artist
            if not artist.seen:
                group = "test_only"
            elif artist.name in held_out_artists:
                group = "train_and_test"
            else:
                group = "train_only"
            width, height = painting.size
            rows.writerow(
                [artist.name, painting.year, painting.genre, width, height, size_bytes, SOURCE]
                + [artist.style, painting.title, group, painting.in_train, painting.filename]
            )
