"""The faust agent without Kafka: batches in through `test_context()`, records out through a
stand-in producer whose acknowledgements the test gives, so the commit order can be watched."""

import asyncio
import gc
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import faust
import numpy as np
import pytest
from faust.types import TP, ChannelT, Message, ProducerT, RecordMetadata
from faust.types.agents import AgentTestWrapperT
from imgsim_common import contract
from imgsim_common.model_card import backbone_card
from imgsim_common.painting_records import decode_painting
from imgsim_common.records import DeadLetter, ImagePathRecord
from imgsim_common.representations import REPRESENTATIONS
from imgsim_vectorizer.app import create_app
from imgsim_vectorizer.pipeline import PipelineFailedError
from imgsim_vectorizer.settings import VectorizerSettings
from imgsim_vectorizer.vectorizing import Vectorizer
from imgsim_vision.inference import Pixels, Vectors
from PIL import Image

OUTPUT_TOPIC = "test-paintings"
DEAD_LETTER_TOPIC = "test-image-paths-dlq"


class BrightnessBackend:
    """Every representation at its dims, filled with 1 + the image's mean brightness: a vector
    record's vectors show which image they were computed from."""

    name = "brightness"

    def __call__(self, pixels: Pixels) -> Vectors:
        brightness = pixels.reshape(len(pixels), -1).mean(axis=1) / 255 + 1
        return {
            r.name: np.repeat(brightness[:, None], r.dims, axis=1).astype(np.float32)
            for r in REPRESENTATIONS
        }


def brightness(rgb: tuple[int, int, int]) -> float:
    return sum(rgb) / 3 / 255 + 1


@dataclass
class Delivery:
    topic: str
    key: bytes
    value: bytes
    headers: dict[str, bytes]
    acknowledged: "asyncio.Future[RecordMetadata]"

    def acknowledge(self) -> None:
        self.acknowledged.set_result(RecordMetadata(self.topic, 0, TP(self.topic, 0), 0))


@dataclass
class HeldProducer:
    """Stands in for faust's Kafka producer: a send is acknowledged only when the test says so."""

    deliveries: list[Delivery] = field(default_factory=list)

    async def maybe_start(self) -> None:
        pass

    async def send(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        partition: int | None,
        timestamp: float | None,
        headers: Any,
        **kwargs: Any,
    ) -> "asyncio.Future[RecordMetadata]":
        future: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
        self.deliveries.append(Delivery(topic, key, value, dict(headers or ()), future))
        return future

    def acknowledge_all(self) -> None:
        for delivery in self.deliveries:
            if not delivery.acknowledged.done():
                delivery.acknowledge()


@dataclass
class Rig:
    app: faust.App
    agent: AgentTestWrapperT
    kafka: HeldProducer

    async def deliver(self, key: bytes, value: bytes) -> Message:
        """Hands a record to the agent as the consumer's conductor does, holding one reference
        to the message for the agent's channel (`AgentTestWrapper.put` takes none, so the
        first ack would already mark it done)."""
        message = self.agent.to_message(key, value, offset=self.agent.sent_offset)
        message.incref()
        channel = cast(ChannelT[Any], self.agent.stream().channel)
        await channel.put(await channel.decode(message))
        self.agent.sent_offset += 1
        return message


def image_path(painting_id: str) -> bytes:
    return ImagePathRecord(id=painting_id, path=painting_id).model_dump_json().encode()


@asynccontextmanager
async def running_agent(image_root: Path, batch_size: int) -> AsyncIterator[Rig]:
    # A batch leaves take_events when it is full, never by timeout, so each test knows its batches.
    settings = VectorizerSettings(
        image_root=image_root,
        output_topic=OUTPUT_TOPIC,
        dead_letter_topic=DEAD_LETTER_TOPIC,
        batch_size=batch_size,
        batch_timeout_s=60,
        metrics_port=0,
        data_dir=image_root / "faust",
    )
    with ThreadPoolExecutor(1) as decode_pool:
        vectorizer = Vectorizer(
            BrightnessBackend(),
            backbone_card("brightness", 16, "random", "1"),
            16,
            image_root,
            max_file_bytes=2**20,
            max_pixels=10**6,
            decode_pool=decode_pool,
        )
        app = create_app(settings, vectorizer)
        kafka = HeldProducer()
        app.producer = cast(ProducerT, kafka)
        try:
            async with app.agents["vectorize"].test_context() as agent:
                yield Rig(app, agent, kafka)
        finally:
            # The stream made the app's Kafka consumer, whose thread owns an event loop that
            # only the thread closes; test_context never starts that thread.
            thread = getattr(app.consumer, "_thread", None)
            if thread is not None:
                thread.thread_loop.close()
            # A failed send leaves faust's FutureMessage with an exception nobody retrieves (the
            # agent awaits the producer's future). Collected later, inside pytest's ast.parse of
            # a failure report, asyncio's traceback of it makes CPython 3.11 raise "AST constructor
            # recursion depth mismatch" (pytest-dev/pytest#10874). Collected here, it only logs.
            gc.collect()


async def eventually(check: Callable[[], bool], what: str, timeout_s: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.005)


def paint(root: Path, name: str, rgb: tuple[int, int, int]) -> None:
    Image.new("RGB", (40, 30), rgb).save(root / name)


def test_image_paths_become_vector_records_and_bad_records_dead_letters(tmp_path: Path) -> None:
    paint(tmp_path, "red.png", (255, 0, 0))
    paint(tmp_path, "grey.png", (200, 200, 200))

    async def scenario() -> tuple[list[Delivery], list[Message]]:
        async with running_agent(tmp_path, batch_size=4) as rig:
            messages = [
                await rig.deliver(b"red.png", image_path("red.png")),
                await rig.deliver(b"broken", b'{"id": "broken", "path":'),
                await rig.deliver(b"grey.png", image_path("grey.png")),
                await rig.deliver(b"ghost.png", image_path("ghost.png")),
            ]
            await eventually(lambda: len(rig.kafka.deliveries) == 4, "four records sent")
            rig.kafka.acknowledge_all()
            await eventually(lambda: all(m.acked for m in messages), "the batch acked")
            return rig.kafka.deliveries, messages

    deliveries, messages = asyncio.run(scenario())

    paintings = {d.key: d for d in deliveries if d.topic == OUTPUT_TOPIC}
    assert sorted(paintings) == [b"grey.png", b"red.png"]
    for key, rgb in ((b"red.png", (255, 0, 0)), (b"grey.png", (200, 200, 200))):
        headers = paintings[key].headers
        record = decode_painting(paintings[key].value, list(headers.items()))
        assert record.version == contract.PAINTINGS_VERSION == 2
        assert record.id == key.decode() == headers[contract.ID_HEADER].decode()
        assert record.sha1 == headers[contract.SHA1_HEADER].decode()
        assert headers[contract.MODEL_VERSION_HEADER] == b"1"
        assert (record.fields["width"], record.fields["height"]) == (40, 30)
        for representation in REPRESENTATIONS:
            vector = record.vectors[representation.name]
            assert vector.dtype == np.float32 and vector.shape == (representation.dims,)
            assert vector == pytest.approx([brightness(rgb)] * representation.dims, abs=1e-3)

    letters = {
        d.key: DeadLetter.model_validate_json(d.value)
        for d in deliveries
        if d.topic == DEAD_LETTER_TOPIC
    }
    assert sorted(letters) == [b"broken", b"ghost.png"]
    assert letters[b"broken"].reason == "malformed_record"
    assert letters[b"broken"].raw == '{"id": "broken", "path":'
    assert letters[b"ghost.png"].reason == "missing"
    assert letters[b"ghost.png"].record == {"id": "ghost.png", "path": "ghost.png", "metadata": {}}
    ghost = next(d for d in deliveries if d.key == b"ghost.png")
    assert ghost.headers[contract.REASON_HEADER] == b"missing"
    assert ghost.headers[contract.ID_HEADER] == b"ghost.png"
    assert len(deliveries) == len(paintings) + len(letters)


def test_a_batch_is_acked_only_when_kafka_has_acknowledged_all_its_records(
    tmp_path: Path,
) -> None:
    paint(tmp_path, "red.png", (255, 0, 0))

    async def scenario() -> None:
        async with running_agent(tmp_path, batch_size=2) as rig:
            good = await rig.deliver(b"red.png", image_path("red.png"))
            bad = await rig.deliver(b"ghost.png", image_path("ghost.png"))
            batch = (good, bad)
            await eventually(lambda: len(rig.kafka.deliveries) == 2, "both records sent")
            # take_events has given back its own reference; only the agent's may hold them now.
            await eventually(lambda: all(m.refcount <= 1 for m in batch), "take_events acked")
            await asyncio.sleep(0.1)  # room for a wrong ack to happen
            assert not any(m.acked for m in batch), "acked before Kafka acknowledged a record"

            first, second = rig.kafka.deliveries
            first.acknowledge()
            await asyncio.sleep(0.1)
            assert not any(m.acked for m in batch), "acked with a record still unacknowledged"

            second.acknowledge()
            await eventually(lambda: all(m.acked for m in batch), "acked after both records")

    asyncio.run(scenario())


def test_a_failed_send_stops_the_worker_without_acking(tmp_path: Path) -> None:
    paint(tmp_path, "red.png", (255, 0, 0))
    paint(tmp_path, "grey.png", (200, 200, 200))

    async def scenario() -> None:
        async with running_agent(tmp_path, batch_size=1) as rig:
            first = await rig.deliver(b"red.png", image_path("red.png"))
            await eventually(lambda: len(rig.kafka.deliveries) == 1, "the first record sent")
            broker_gone = ConnectionError("broker gone")
            rig.kafka.deliveries[0].acknowledged.set_exception(broker_gone)

            # The worker stops at once, without waiting for another record to arrive.
            await eventually(lambda: rig.app.crashed, "the worker crashed")
            second = await rig.deliver(b"grey.png", image_path("grey.png"))
            await asyncio.sleep(0.2)

            assert isinstance(rig.app.crash_reason, PipelineFailedError)
            assert rig.app.crash_reason.__cause__ is broker_gone
            assert not first.acked and not second.acked
            assert [d.key for d in rig.kafka.deliveries] == [b"red.png"]

    asyncio.run(scenario())
