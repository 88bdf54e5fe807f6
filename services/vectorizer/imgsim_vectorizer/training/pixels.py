"""The decoded pixels of every painting a tower trains on: decoded once, then read from disk.

Images are read and decoded by the vectorizer's own loader (`imgsim_vision.images`) at the
model's input size, so the tower trains on what ingestion feeds it. Decoding runs in threads a
bounded number of paintings ahead; decoded images go to the pixel cache as they come, so an
interrupted run loses at most one chunk's work.
"""

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
from imgsim_common.rejections import ImageRejected
from imgsim_vision.images import decode_bytes, read_image_file

from imgsim_vectorizer.training.feature_cache import file_key
from imgsim_vectorizer.training.features import Limits, Wanted, ahead, progress_bar
from imgsim_vectorizer.training.pixel_cache import PixelCache, Pixels

# Part of the pixel cache's key: change it whenever the loader decodes differently.
DECODER: Final = "decode1"
CHUNK: Final = 512  # paintings per chunk: ~75 MB at 224 x 224


@dataclass(frozen=True)
class Decoded:
    """The paintings that decoded, in the order asked for, and their pixels."""

    ids: tuple[str, ...]
    pixels: Pixels  # (paintings, size, size, 3) uint8
    skipped: dict[str, str] = field(default_factory=dict)  # painting id -> reason
    decoded: int = 0  # of them, decoded now (the others came from the cache)
    seconds: float = 0.0


@dataclass(frozen=True)
class _Prepared:
    wanted: Wanted
    sha1: str | None = None
    pixels: Pixels | None = None  # when decoded now
    rejected: str | None = None


def decode_paintings(
    paintings: Sequence[Wanted],
    size: int,
    cache: PixelCache,
    limits: Limits,
    *,
    threads: int = 2,
    progress: bool = True,
) -> Decoded:
    started = time.perf_counter()
    sha1s: dict[str, str] = {}
    skipped: dict[str, str] = {}
    decoded = 0

    def prepare(wanted: Wanted) -> _Prepared:
        return _prepare(wanted, cache, size, limits)

    bar = progress_bar(progress)
    task = bar.add_task("decoding paintings", total=len(paintings))
    try:
        with bar:
            for prepared in ahead(paintings, prepare, threads, 64):
                if prepared.rejected is not None or prepared.sha1 is None:
                    skipped[prepared.wanted.id] = prepared.rejected or "unreadable"
                else:
                    sha1s[prepared.wanted.id] = prepared.sha1
                    if prepared.pixels is not None:
                        cache.add(prepared.sha1, prepared.pixels)
                        decoded += 1
                        if cache.pending >= CHUNK:
                            cache.flush()
                bar.advance(task)
    finally:
        # Whatever was decoded is kept, also when the run is interrupted.
        cache.flush()
    ids = tuple(p.id for p in paintings if p.id in sha1s)
    pixels = np.empty((len(ids), size, size, 3), np.uint8)
    for row, painting_id in enumerate(ids):
        pixels[row] = cache.get(sha1s[painting_id])
    return Decoded(ids, pixels, skipped, decoded, time.perf_counter() - started)


def _prepare(wanted: Wanted, cache: PixelCache, size: int, limits: Limits) -> _Prepared:
    try:
        key = file_key(wanted.path)
    except OSError as e:
        return _Prepared(wanted, rejected=f"cannot read {wanted.path}: {e.strerror}")
    sha1 = cache.sha1_of(key)
    if sha1 is not None and cache.has(sha1):
        return _Prepared(wanted, sha1)
    try:
        data = read_image_file(wanted.path, limits.max_file_bytes)
        sha1 = hashlib.sha1(data, usedforsecurity=False).hexdigest()
        cache.remember_file(key, sha1)
        if cache.has(sha1):  # the same image under another name
            return _Prepared(wanted, sha1)
        image = decode_bytes(data, size, limits.max_pixels, str(wanted.path))
    except ImageRejected as e:
        return _Prepared(wanted, rejected=f"{e.reason.value}: {e}")
    return _Prepared(wanted, sha1, image.pixels)
