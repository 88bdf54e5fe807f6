"""Ordering, overlap and the commit order of the batch pipeline, with stand-in stages."""

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
from imgsim_vectorizer.pipeline import OrderedPipeline, PipelineFailedError
from imgsim_vectorizer.vectorizing import DecodedBatch, Destination, Message, Outgoing


class Stages:
    """Decoding takes the time the batch's first key asks for; inference takes 50 ms."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str, float]] = []

    async def decode(self, messages: Sequence[Message]) -> DecodedBatch:
        batch = (messages[0].key or b"").decode()
        self.log.append(("decode-start", batch, time.perf_counter()))
        await asyncio.sleep(float(batch.split(":")[1]))
        self.log.append(("decode-end", batch, time.perf_counter()))
        return DecodedBatch(
            outcomes=[
                Outgoing(Destination.VECTOR_RECORDS, m.key or b"", m.value or b"") for m in messages
            ]
        )

    def infer(self, decoded: DecodedBatch) -> list[Outgoing]:
        batch = decoded.outcomes[0].key.decode() if decoded.outcomes[0] else ""
        self.log.append(("infer-start", batch, time.perf_counter()))
        time.sleep(0.05)
        self.log.append(("infer-end", batch, time.perf_counter()))
        return [o for o in decoded.outcomes if o is not None]


def batch(name: str, decode_s: float, size: int = 3) -> list[Message]:
    return [Message(f"{name}:{decode_s}".encode(), f"{name}-{i}".encode()) for i in range(size)]


async def _run(
    batches: list[list[Message]], fail_on: bytes | None = None
) -> tuple[Stages, list[str], list[str]]:
    stages, sent, safe = Stages(), [], []

    async def send(item: Outgoing) -> None:
        if item.value == fail_on:
            raise ConnectionError("broker gone")
        await asyncio.sleep(0.001)
        sent.append(item.value.decode())

    pipeline = OrderedPipeline(stages, send, ThreadPoolExecutor(1))
    for messages in batches:
        name = (messages[0].key or b"").decode()

        async def on_safe(name: str = name) -> None:
            safe.append(name)

        await pipeline.submit(messages, on_safe)
    await pipeline.drain()
    return stages, sent, safe


def test_a_slow_batch_is_not_overtaken_by_a_fast_one() -> None:
    _, sent, safe = asyncio.run(_run([batch("a", 0.2), batch("b", 0.0)]))

    assert sent == ["a-0", "a-1", "a-2", "b-0", "b-1", "b-2"]
    assert safe == ["a:0.2", "b:0.0"]


def test_the_next_batch_decodes_while_the_previous_one_is_in_inference() -> None:
    stages, _, _ = asyncio.run(_run([batch("a", 0.0), batch("b", 0.03), batch("c", 0.0)]))

    at = {(event, name): t for event, name, t in stages.log}
    assert at[("decode-start", "b:0.03")] < at[("infer-end", "a:0.0")]
    assert at[("infer-start", "b:0.03")] >= at[("infer-end", "a:0.0")]


def test_nothing_is_acknowledged_after_a_batch_that_could_not_be_sent() -> None:
    with pytest.raises(PipelineFailedError):
        asyncio.run(_run([batch("a", 0.0), batch("b", 0.0)], fail_on=b"a-1"))


def test_a_failed_batch_and_those_after_it_are_never_marked_safe() -> None:
    safe: list[str] = []

    async def scenario() -> None:
        async def send(item: Outgoing) -> None:
            if item.value == b"a-1":
                raise ConnectionError("broker gone")

        pipeline = OrderedPipeline(Stages(), send, ThreadPoolExecutor(1))
        for messages in (batch("a", 0.0), batch("b", 0.0)):
            name = (messages[0].key or b"").decode()

            async def on_safe(name: str = name) -> None:
                safe.append(name)

            try:
                await pipeline.submit(messages, on_safe)
            except PipelineFailedError:
                break
        with pytest.raises(PipelineFailedError):
            await pipeline.drain()

    asyncio.run(scenario())
    assert safe == []


def test_the_network_does_not_wait_for_the_previous_batch_to_be_acknowledged() -> None:
    stages, sent_at = Stages(), {}

    async def scenario() -> None:
        async def send(item: Outgoing) -> None:
            if item.value.startswith(b"a-"):
                await asyncio.sleep(0.2)  # a slow acknowledgement from Kafka
            sent_at[item.value.decode()] = time.perf_counter()

        async def on_safe() -> None:
            pass

        pipeline = OrderedPipeline(stages, send, ThreadPoolExecutor(1))
        await pipeline.submit(batch("a", 0.0), on_safe)
        await pipeline.submit(batch("b", 0.0), on_safe)
        await pipeline.drain()

    asyncio.run(scenario())
    at = {(event, name): t for event, name, t in stages.log}
    assert at[("infer-start", "b:0.0")] < sent_at["a-0"]
    assert max(v for k, v in sent_at.items() if k.startswith("a")) < min(
        v for k, v in sent_at.items() if k.startswith("b")
    )
