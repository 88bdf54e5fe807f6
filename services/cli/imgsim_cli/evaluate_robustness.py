"""Label-free robustness: a crop, a rescale and a JPEG re-encode of a painting, uploaded to the
search API's upload search, must find the original painting at rank 1.

Uploads are vectorized by the API's upload model, so this also shows that it computes the
vectors the index holds. An API that has upload search switched off, not ready, or refusing it
(a model other than the index's) is reported with its reason, and this part is skipped.

Uploads are paced to the API's bound on uploads at once (evaluate_uploads): a 429 or a dropped
connection is sent again. One that still fails is counted, by kind and by metric and variant,
and the rank-1 figures say on how many answered uploads they stand.
"""

import asyncio
import io
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from imgsim_cli.evaluate_client import SearchApi, SearchApiError, Searched
from imgsim_cli.evaluate_uploads import UploadPacer

CROP: Final = 0.8  # the centre's share of each side
SCALE: Final = 0.5
JPEG_QUALITY: Final = 40
# Crops and rescales are sent as nearly lossless JPEGs, so that only the geometry changes.
FAITHFUL_QUALITY: Final = 95
VARIANTS: Final = ("crop", "rescale", "jpeg")
CANNOT_ALTER: Final = "cannot alter the painting"
# Statuses that say upload search cannot be used here at all: switched off, refused for another
# model than the index's, unavailable.
UNUSABLE: Final = frozenset({404, 409, 503})


def variants(image_file: Path) -> dict[str, bytes]:
    """The three altered copies of a painting's file, as JPEG bytes."""
    from PIL import Image, ImageOps  # only this part of the evaluation draws pictures

    with Image.open(image_file) as opened:
        original = ImageOps.exif_transpose(opened).convert("RGB")
    width, height = original.size
    left, top = round(width * (1 - CROP) / 2), round(height * (1 - CROP) / 2)
    crop = original.crop((left, top, left + round(width * CROP), top + round(height * CROP)))
    small = (max(1, round(width * SCALE)), max(1, round(height * SCALE)))
    rescale = original.resize(small, Image.Resampling.LANCZOS)

    def encoded(image: Image.Image, quality: int) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        return buffer.getvalue()

    return {
        "crop": encoded(crop, FAITHFUL_QUALITY),
        "rescale": encoded(rescale, FAITHFUL_QUALITY),
        "jpeg": encoded(original, JPEG_QUALITY),
    }


@dataclass
class Robustness:
    # By (representation, metric) and variant: how many uploads found the original at rank 1.
    first: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)
    uploads: Counter[str] = field(default_factory=Counter)  # answered, by "metric/variant"
    failed: Counter[str] = field(default_factory=Counter)  # by "metric/variant"
    failures: Counter[str] = field(default_factory=Counter)  # by kind
    examples: dict[str, str] = field(default_factory=dict)  # a failure's message, by kind
    retries: Counter[str] = field(default_factory=Counter)  # by kind
    at_once: int = 0  # the most uploads in flight at once
    skipped: str | None = None
    seconds: float = 0.0

    @property
    def asked(self) -> int:
        return sum(self.uploads.values()) + sum(self.failed.values())

    def done(self, metric: str) -> int:
        return sum(self.uploads[f"{metric}/{v}"] for v in VARIANTS)

    def failed_for(self, metric: str) -> int:
        return sum(self.failed[f"{metric}/{v}"] for v in VARIANTS)

    def rank1(self, representation: str, metric: str) -> float | None:
        done = self.done(metric)
        hits = self.first.get((representation, metric), Counter())
        return sum(hits.values()) / done if done else None

    def fail(self, metric: str, variant: str, kind: str, message: str) -> None:
        self.failed[f"{metric}/{variant}"] += 1
        self.failures[kind] += 1
        self.examples.setdefault(kind, message)

    def summary(self, representation: str, metric: str) -> dict[str, Any]:
        hits = self.first.get((representation, metric), Counter())
        return {
            "rank1": self.rank1(representation, metric),
            "uploads": self.done(metric),  # the answered uploads rank1 stands on
            "failed": self.failed_for(metric),
            "by_variant": {
                v: hits[v] / self.uploads[f"{metric}/{v}"]
                if self.uploads[f"{metric}/{v}"]
                else None
                for v in VARIANTS
            },
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "skipped": self.skipped,
            "asked": self.asked,
            "uploads": dict(self.uploads),
            "failed": dict(self.failed),
            "failures": dict(self.failures),
            "failure_examples": self.examples,
            "failure_rate": round(sum(self.failed.values()) / self.asked, 4)
            if self.asked
            else None,
            "retries": dict(self.retries),
            "at_once": self.at_once,
            "seconds": round(self.seconds, 2),
        }


async def _probe(
    api: SearchApi,
    pacer: UploadPacer,
    image: bytes,
    representations: Sequence[str],
    metric: str,
    wait_s: float,
) -> str | None:
    """None when upload search answers; else why not. A model still loading is waited for."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            await pacer.send(lambda: api.similar_to_upload(image, representations, metric, 1))
            return None
        except SearchApiError as e:
            if e.status not in UNUSABLE and e.status is not None:
                return None  # a problem of this one image, counted with the others
            if e.status == 503 and "loading" in e.message and time.monotonic() < deadline:
                await asyncio.sleep(2)
                continue
            return f"upload search answered {e.status or 'nothing'}: {e.message}"


async def check_robustness(
    api: SearchApi,
    image_root: Path,
    ids: Sequence[str],
    searched: Searched,
    wait_s: float = 60,
    advance: Callable[[], None] = lambda: None,
) -> Robustness:
    started = time.monotonic()
    result = Robustness(first={(r, m): Counter() for m, names in searched.items() for r in names})
    if not ids:
        result.skipped = "no painting to alter"
        return result
    try:
        first = await asyncio.to_thread(variants, image_root / ids[0])
    except OSError as e:
        result.skipped = f"cannot alter {ids[0]}: {e}"
        return result
    pacer = UploadPacer(api.concurrency)
    metric = next(iter(searched))
    result.skipped = await _probe(api, pacer, first["jpeg"], searched[metric], metric, wait_s)
    if result.skipped is not None:
        return result

    async def upload(painting_id: str, metric: str, variant: str, image: bytes) -> None:
        names = searched[metric]
        try:
            rankings = await pacer.send(lambda: api.similar_to_upload(image, names, metric, 1))
        except SearchApiError as e:
            result.fail(metric, variant, e.kind, e.message)
            return
        finally:
            advance()
        result.uploads[f"{metric}/{variant}"] += 1
        for representation in names:
            if rankings.get(representation, [])[:1] == [painting_id]:
                result.first[(representation, metric)][variant] += 1

    async def one(painting_id: str, made: Mapping[str, bytes] | None) -> None:
        try:
            altered = (
                made
                if made is not None
                else await asyncio.to_thread(variants, image_root / painting_id)
            )
        except OSError as e:
            for metric in searched:  # each of its uploads fails
                for variant in VARIANTS:
                    result.fail(metric, variant, CANNOT_ALTER, f"{painting_id}: {e}")
                    advance()
            return
        await asyncio.gather(
            *(upload(painting_id, m, v, image) for m in searched for v, image in altered.items())
        )

    try:
        await asyncio.gather(*(one(i, first if n == 0 else None) for n, i in enumerate(ids)))
    finally:
        result.retries, result.at_once = pacer.retries, pacer.most_at_once
        result.seconds = time.monotonic() - started
    return result
