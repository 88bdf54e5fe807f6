"""The frozen backbone's features of each painting's views, computed once and then read back.

Images are read and decoded by the vectorizer's own loader (`imgsim_vision.images`) at the
backbone's input size, so training sees what ingestion sees. Decoding runs in threads a bounded
number of paintings ahead of the network; features are written to the cache as they come, so an
interrupted run loses at most one chunk's work.
"""

import hashlib
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt
from imgsim_common.rejections import ImageRejected
from imgsim_vision.images import decode_bytes, read_image_file
from imgsim_vision.inference import Backend
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from imgsim_vectorizer.training.feature_cache import FeatureCache, Vector, file_key
from imgsim_vectorizer.training.views import Pixels, view

Prepared = TypeVar("Prepared")


@dataclass(frozen=True)
class Wanted:
    id: str
    path: Path
    views: int  # views 0 .. views-1


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int
    max_pixels: int


@dataclass(frozen=True)
class Features:
    """One row per (painting, view): the backbone's representations of it."""

    ids: tuple[str, ...]
    views: npt.NDArray[np.int64]
    vectors: dict[str, npt.NDArray[np.float32]]

    def rows(self, ids: Iterable[str], views: int | None = None) -> "Features":
        """The rows of these paintings, of their first `views` views (all when None)."""
        wanted = frozenset(ids)
        keep = np.array([i in wanted for i in self.ids], dtype=bool)
        if views is not None:
            keep &= self.views < views
        return Features(
            tuple(i for i, k in zip(self.ids, keep, strict=True) if k),
            self.views[keep],
            {name: values[keep] for name, values in self.vectors.items()},
        )


@dataclass
class Extraction:
    paintings: int = 0
    decoded: int = 0
    computed_views: int = 0
    cached_views: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # painting id -> reason
    seconds: float = 0.0


@dataclass(frozen=True)
class _Prepared:
    wanted: Wanted
    sha1: str | None = None
    missing: tuple[tuple[int, Pixels], ...] = ()  # the views to compute, decoded
    rejected: str | None = None

    @property
    def decoded(self) -> bool:
        return bool(self.missing)


def extract(
    paintings: Sequence[Wanted],
    backend: Backend,
    input_size: int,
    cache: FeatureCache,
    limits: Limits,
    *,
    batch_size: int = 32,
    chunk_rows: int = 2048,
    threads: int = 2,
    progress: bool = True,
) -> tuple[Features, Extraction]:
    summary = Extraction(paintings=len(paintings))
    started = time.perf_counter()
    batch: list[tuple[str, int, Pixels]] = []

    def infer() -> None:
        vectors = backend(np.stack([pixels for _, _, pixels in batch]))
        for row, (sha1, number, _) in enumerate(batch):
            cache.add(sha1, number, {name: values[row] for name, values in vectors.items()})
        summary.computed_views += len(batch)
        batch.clear()
        if cache.pending >= chunk_rows:
            cache.flush()

    def prepare(wanted: Wanted) -> _Prepared:
        return _prepare(wanted, cache, input_size, limits)

    bar = progress_bar(progress)
    task = bar.add_task("backbone features", total=len(paintings))
    sha1s: dict[str, str] = {}
    try:
        with bar:
            for prepared in ahead(paintings, prepare, threads, 4 * batch_size):
                wanted = prepared.wanted
                if prepared.rejected is not None or prepared.sha1 is None:
                    summary.skipped[wanted.id] = prepared.rejected or "unreadable"
                else:
                    sha1s[wanted.id] = prepared.sha1
                    summary.decoded += prepared.decoded
                    summary.cached_views += wanted.views - len(prepared.missing)
                    for number, pixels in prepared.missing:
                        batch.append((prepared.sha1, number, pixels))
                        if len(batch) == batch_size:
                            infer()
                bar.advance(task)
            if batch:
                infer()
    finally:
        # Whatever was computed is kept, also when the run is interrupted.
        cache.flush()
    summary.seconds = time.perf_counter() - started
    return _assemble(paintings, sha1s, cache), summary


def _prepare(wanted: Wanted, cache: FeatureCache, size: int, limits: Limits) -> _Prepared:
    try:
        key = file_key(wanted.path)
    except OSError as e:
        return _Prepared(wanted, rejected=f"cannot read {wanted.path}: {e.strerror}")
    sha1 = cache.sha1_of(key)
    data: bytes | None = None
    try:
        if sha1 is None:
            data = read_image_file(wanted.path, limits.max_file_bytes)
            sha1 = hashlib.sha1(data, usedforsecurity=False).hexdigest()
            cache.remember_file(key, sha1)
        numbers = [n for n in range(wanted.views) if not cache.has(sha1, n)]
        if not numbers:
            return _Prepared(wanted, sha1)
        if data is None:
            data = read_image_file(wanted.path, limits.max_file_bytes)
        decoded = decode_bytes(data, size, limits.max_pixels, str(wanted.path))
    except ImageRejected as e:
        return _Prepared(wanted, rejected=f"{e.reason.value}: {e}")
    return _Prepared(wanted, sha1, tuple((n, view(decoded.pixels, sha1, n)) for n in numbers))


def ahead(
    paintings: Sequence[Wanted],
    prepare: Callable[[Wanted], Prepared],
    threads: int,
    at_most: int,
) -> Iterator[Prepared]:
    """Prepared paintings in order, at most `at_most` of them decoded and waiting in memory."""
    pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="decode")
    pending: deque[Future[Prepared]] = deque()
    remaining = iter(paintings)
    try:
        for wanted in remaining:
            pending.append(pool.submit(prepare, wanted))
            if len(pending) >= at_most:
                break
        while pending:
            done = pending.popleft().result()
            following = next(remaining, None)
            if following is not None:
                pending.append(pool.submit(prepare, following))
            yield done
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _assemble(paintings: Sequence[Wanted], sha1s: dict[str, str], cache: FeatureCache) -> Features:
    ids: list[str] = []
    numbers: list[int] = []
    rows: list[dict[str, Vector]] = []
    for wanted in paintings:
        sha1 = sha1s.get(wanted.id)
        if sha1 is None:
            continue
        for number in range(wanted.views):
            ids.append(wanted.id)
            numbers.append(number)
            rows.append(cache.get(sha1, number))
    names = sorted(rows[0]) if rows else []
    vectors = {name: np.stack([row[name] for row in rows]).astype(np.float32) for name in names}
    return Features(tuple(ids), np.array(numbers, dtype=np.int64), vectors)


def progress_bar(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("paintings"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )
