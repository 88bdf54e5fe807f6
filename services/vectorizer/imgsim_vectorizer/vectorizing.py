"""From image-path messages to vector records and dead letters: parse, decode, infer.

No Kafka here: the agent hands in messages and sends what comes out, which keeps this testable
with small models and generated images.
"""

import asyncio
import socket
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np
from imgsim_common import contract
from imgsim_common.image_paths import resolve_image_path
from imgsim_common.model_card import ModelCard
from imgsim_common.painting_records import encode_painting, painting_headers, vector_problem
from imgsim_common.records import DeadLetter, ImagePathRecord
from imgsim_common.rejections import ImageRejected
from imgsim_vision.images import DecodedImage, decode_image
from imgsim_vision.inference import Backend

from imgsim_vectorizer import metrics

WORKER = socket.gethostname()


Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class Message:
    key: bytes | None
    value: bytes | None
    headers: contract.Headers = None


class Destination(Enum):
    VECTOR_RECORDS = "the vector-record topic (paintings)"
    DEAD_LETTERS = "the dead-letter topic (image-paths-dlq)"


@dataclass(frozen=True)
class Outgoing:
    destination: Destination
    key: bytes
    value: bytes
    headers: Headers = ()


@dataclass
class DecodedBatch:
    """A batch after decoding: dead letters already decided, images waiting for inference."""

    outcomes: list[Outgoing | None]
    waiting: list[tuple[int, ImagePathRecord, DecodedImage]] = field(default_factory=list)
    decode_seconds: float = 0.0


def dead_letter(
    key: bytes | None,
    reason: str,
    message: str,
    record: ImagePathRecord | None = None,
    raw: bytes | None = None,
) -> Outgoing:
    letter = DeadLetter(
        reason=reason,
        # Bounded like `raw`: a message quotes the path, and the letter must stay well within
        # what Kafka takes (contract.MAX_IMAGE_PATH_BYTES bounds the record it carries).
        message=message[:10_000],
        record=record.model_dump(mode="json") if record else None,
        raw=raw.decode("utf-8", errors="replace")[:10_000] if raw is not None else None,
        worker=WORKER,
    )
    metrics.FAILURES.labels(reason).inc()
    metrics.IMAGES.labels("dead_lettered").inc()
    headers: list[tuple[str, bytes]] = [
        contract.version_header(contract.DEAD_LETTER_VERSION),
        (contract.REASON_HEADER, reason.encode()),
    ]
    if record is not None:
        headers.append((contract.ID_HEADER, record.id.encode()))
    return Outgoing(
        Destination.DEAD_LETTERS, key or b"", letter.model_dump_json().encode(), tuple(headers)
    )


class Vectorizer:
    def __init__(
        self,
        backend: Backend,
        card: ModelCard,
        input_size: int,
        image_root: Path,
        max_file_bytes: int,
        max_pixels: int,
        decode_pool: Executor,
        decode_chunks: int = 2,
    ) -> None:
        self.backend = backend
        self.card = card
        self.model = card.info
        # Exactly the card's representations go into each record: the index of the model
        # version is mapped from the same card.
        self.representations = card.representation_list()
        self.input_size = input_size
        self.image_root = image_root
        self.max_file_bytes = max_file_bytes
        self.max_pixels = max_pixels
        self.decode_pool = decode_pool
        # A batch is decoded as this many runs of images (one per decode thread), not one task per
        # image: each finished task wakes the event loop, and per image that cost about a third
        # of the decode threads' time.
        self.decode_chunks = max(1, decode_chunks)

    def parse(self, message: Message) -> ImagePathRecord | Outgoing:
        try:
            return contract.image_path_record(message.key, message.value, message.headers)
        except contract.RecordRejected as e:
            return dead_letter(message.key, e.reason, e.message, raw=message.value)

    def _decode_image(self, record: ImagePathRecord) -> DecodedImage:
        started = time.perf_counter()
        try:
            path = resolve_image_path(self.image_root, record.path)
            return decode_image(path, self.input_size, self.max_file_bytes, self.max_pixels)
        finally:
            metrics.DECODE_SECONDS.observe(time.perf_counter() - started)

    def _decode_run(self, records: Sequence[ImagePathRecord]) -> list[DecodedImage | Exception]:
        """Decodes images one after the other; a bad one is returned as its error, never raised."""
        results: list[DecodedImage | Exception] = []
        for record in records:
            try:
                results.append(self._decode_image(record))
            except Exception as e:  # noqa: BLE001 - one bad file must never stop the stream
                results.append(e)
        return results

    async def decode(self, messages: Sequence[Message]) -> DecodedBatch:
        """Parses the batch and decodes its images concurrently in the decode pool."""
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        batch = DecodedBatch(outcomes=[None] * len(messages))
        parsed: list[tuple[int, ImagePathRecord]] = []
        for position, message in enumerate(messages):
            outcome = self.parse(message)
            if isinstance(outcome, Outgoing):
                batch.outcomes[position] = outcome
            else:
                parsed.append((position, outcome))
        size = -(-len(parsed) // self.decode_chunks)  # ceiling division
        runs = [parsed[i : i + size] for i in range(0, len(parsed), size)] if parsed else []
        decoded = await asyncio.gather(
            *(
                loop.run_in_executor(self.decode_pool, self._decode_run, [r for _, r in run])
                for run in runs
            )
        )
        for run, results in zip(runs, decoded, strict=True):
            for (position, record), result in zip(run, results, strict=True):
                if isinstance(result, DecodedImage):
                    batch.waiting.append((position, record, result))
                elif isinstance(result, ImageRejected):
                    batch.outcomes[position] = dead_letter(
                        record.id.encode(), result.reason.value, result.message, record=record
                    )
                else:
                    batch.outcomes[position] = dead_letter(
                        record.id.encode(),
                        "decode_failed",
                        f"{type(result).__name__}: {result}",
                        record=record,
                    )
        batch.decode_seconds = time.perf_counter() - started
        return batch

    def infer(self, batch: DecodedBatch) -> list[Outgoing]:
        """One batched forward pass for every decoded image; runs in the inference thread."""
        outcomes = list(batch.outcomes)
        if batch.waiting:
            pixels = np.stack([image.pixels for _, _, image in batch.waiting])
            vectors = self.backend(pixels)
            for row, (position, record, image) in enumerate(batch.waiting):
                outcomes[position] = self._vector_record(
                    record, image, {name: vectors[name][row] for name in vectors}
                )
        return [outcome for outcome in outcomes if outcome is not None]

    def _vector_record(
        self, record: ImagePathRecord, image: DecodedImage, vectors: dict[str, np.ndarray]
    ) -> Outgoing:
        for representation in self.representations:
            vector = vectors.get(representation.name)
            problem = vector_problem(representation.name, representation.dims, vector)
            if problem is not None:
                return dead_letter(record.id.encode(), "bad_vector", problem, record=record)
        fields = {
            "id": record.id,
            "path": record.path,
            "sha1": image.sha1,
            "width": image.width,
            "height": image.height,
            "model": self.model.model_dump(),
            "metadata": record.metadata,
        }
        value = encode_painting(fields, {r.name: vectors[r.name] for r in self.representations})
        metrics.IMAGES.labels("vectorized").inc()
        headers = tuple(painting_headers(record.id, image.sha1, self.model))
        return Outgoing(Destination.VECTOR_RECORDS, record.id.encode(), value, headers)
