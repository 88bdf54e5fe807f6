"""One uploaded image to its vectors, by the worker's own decoding, model and backend.

The search API vectorizes uploads here rather than in its own process, so an upload and the
collection are vectorized by exactly the same code and weights. An upload takes the worker's
decode pool and its one inference thread, in turn with the ingestion batches: it never runs the
network beside a batch, so the cores are not oversubscribed. At most `running` uploads are
decoded and vectorized at once and `waiting` more wait for their turn; any beyond are refused at
once (busy, 503) rather than queued without bound, so uploads cannot starve ingestion.
"""

import asyncio
import logging
import time
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from imgsim_common.model_card import ModelCard
from imgsim_common.painting_records import vector_problem
from imgsim_common.records import ModelInfo
from imgsim_common.rejections import ImageRejected, RejectReason
from imgsim_vision.images import DecodedImage, decode_bytes
from imgsim_vision.inference import Backend

log = logging.getLogger(__name__)

BUSY: Final = "busy"
BAD_VECTOR: Final = "bad_vector"  # as the worker dead-letters such an image
DECODE_FAILED: Final = "decode_failed"  # likewise
INFERENCE_FAILED: Final = "inference_failed"
# The reasons that say the image is too big; every other rejection says it is not usable.
TOO_LARGE: Final = frozenset({RejectReason.TOO_LARGE, RejectReason.TOO_MANY_PIXELS})


class EmbeddingRefused(Exception):
    """Why an upload gets no vectors: an HTTP status, the dead-letter reason and a message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(status, reason, message)
        self.status = status
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Embedding:
    image: DecodedImage
    vectors: Mapping[str, npt.NDArray[np.float32]]  # the card's representations, in its order
    decode_seconds: float
    inference_seconds: float


class Embedder:
    def __init__(
        self,
        backend: Backend,
        card: ModelCard,
        max_bytes: int,
        max_pixels: int,
        decode_pool: Executor,
        inference_pool: Executor,
        running: int = 2,
        waiting: int = 32,
    ) -> None:
        """`decode_pool` and `inference_pool`: the worker's, so uploads take turns with batches."""
        self.backend = backend
        self.card = card
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self._decode_pool = decode_pool
        self._inference_pool = inference_pool
        # Bound to the loop that first waits on it (the server's), not to this thread's.
        self._running = asyncio.Semaphore(running)
        self._admitted = 0
        self._limit = running + waiting

    @property
    def model(self) -> ModelInfo:
        return self.card.info

    @property
    def input_size(self) -> int:
        return self.card.input_size

    @property
    def full(self) -> bool:
        return self._admitted >= self._limit

    def busy_message(self) -> str:
        return f"{self._admitted} images are being vectorized or waiting for it; try again"

    async def embed(self, data: bytes) -> Embedding:
        """The image's vectors; `EmbeddingRefused` says why there are none."""
        if len(data) > self.max_bytes:
            raise EmbeddingRefused(
                413,
                RejectReason.TOO_LARGE,
                f"the image has {len(data)} bytes, more than {self.max_bytes}",
            )
        if self.full:
            raise EmbeddingRefused(503, BUSY, self.busy_message())
        self._admitted += 1
        try:
            async with self._running:
                return await self._embed(data)
        finally:
            self._admitted -= 1

    async def _embed(self, data: bytes) -> Embedding:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            image = await loop.run_in_executor(
                self._decode_pool, decode_bytes, data, self.input_size, self.max_pixels
            )
        except ImageRejected as e:
            status = 413 if e.reason in TOO_LARGE else 422
            raise EmbeddingRefused(status, e.reason, e.message) from None
        except Exception as e:  # noqa: BLE001 - as the worker dead-letters it: decode_failed
            raise EmbeddingRefused(422, DECODE_FAILED, f"{type(e).__name__}: {e}") from None
        decoded = time.perf_counter()
        try:
            outputs = await loop.run_in_executor(
                self._inference_pool, self.backend, image.pixels[np.newaxis]
            )
        except Exception as e:  # noqa: BLE001 - the image was fine; the service was not
            log.exception("inference failed on an upload")
            raise EmbeddingRefused(
                500, INFERENCE_FAILED, f"the model failed on the image: {type(e).__name__}: {e}"
            ) from None
        inferred = time.perf_counter()
        # The card's representations only: an output beyond them is not in any index.
        vectors = {name: values[0] for name, values in outputs.items()}
        return Embedding(image, checked(vectors, self.card), decoded - started, inferred - decoded)


def checked(
    vectors: Mapping[str, npt.NDArray[np.float32] | None], card: ModelCard
) -> dict[str, npt.NDArray[np.float32]]:
    """The card's vectors, refused by the worker's rule for vector records: each of its
    dimensions, finite and not all zeros (a cosine of a zero vector means nothing)."""
    found: dict[str, npt.NDArray[np.float32]] = {}
    for representation in card.representations:
        vector = vectors.get(representation.name)
        problem = vector_problem(representation.name, representation.dims, vector)
        if problem is not None:
            raise EmbeddingRefused(422, BAD_VECTOR, problem)
        found[representation.name] = np.asarray(vector, dtype=np.float32)
    return found
