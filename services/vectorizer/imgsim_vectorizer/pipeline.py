"""Batches flow through decode -> inference -> send, several at a time, in order.

Batch N+1 is decoded while batch N is in the network, and N's records are sent while N+1 is in the
network. Inference, sending and the acknowledgement of the input stay in arrival order, so a newer
record for a painting is never overtaken by an older one. The commit order, which nothing here may
break: a batch's outputs are sent and acknowledged by Kafka first, and only then does `on_safe`
release its input offsets for commit.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from typing import Protocol

from imgsim_vectorizer import metrics
from imgsim_vectorizer.vectorizing import DecodedBatch, Message, Outgoing

Send = Callable[[Outgoing], Awaitable[None]]
OnSafe = Callable[[], Awaitable[None]]


class PipelineFailedError(RuntimeError):
    pass


OnFailure = Callable[[PipelineFailedError], Awaitable[None]]


class Stages(Protocol):
    async def decode(self, messages: Sequence[Message]) -> DecodedBatch: ...

    def infer(self, batch: DecodedBatch) -> list[Outgoing]: ...


class OrderedPipeline:
    def __init__(
        self,
        vectorizer: Stages,
        send: Send,
        inference_pool: Executor,
        max_in_flight: int = 3,
        on_failure: OnFailure | None = None,
    ) -> None:
        """`on_failure` hears of the first failed batch at once, not at the next submit():
        on a quiet topic there may be no next batch for a long time."""
        self._vectorizer = vectorizer
        self._on_failure = on_failure
        self._send = send
        self._inference_pool = inference_pool
        self._room = asyncio.Semaphore(max_in_flight)
        self._tail: _Batch | None = None
        self._failure: BaseException | None = None

    async def submit(self, messages: Sequence[Message], on_safe: OnSafe) -> None:
        """Takes a batch; waits while `max_in_flight` batches are already under way."""
        self._raise_if_failed()
        await self._room.acquire()
        self._raise_if_failed()
        previous = self._tail
        batch = _Batch(list(messages), on_safe)
        batch.task = asyncio.create_task(self._run(batch, previous))
        self._tail = batch

    async def drain(self) -> None:
        if self._tail is not None and self._tail.task is not None:
            await asyncio.wait([self._tail.task])
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise self._failed()

    def _failed(self) -> PipelineFailedError:
        error = PipelineFailedError("a batch could not be delivered")
        error.__cause__ = self._failure
        return error

    async def _run(self, batch: "_Batch", previous: "_Batch | None") -> None:
        started = time.perf_counter()
        try:
            decoded = await self._vectorizer.decode(batch.messages)
            metrics.STAGE_SECONDS.labels("decode").observe(decoded.decode_seconds)
            # The network takes batches in order, and the next one as soon as it is free: it
            # does not wait for the previous batch's records to be acknowledged.
            if previous is not None:
                await previous.inferred.wait()
            if self._failure is not None:
                return  # an earlier batch failed: nothing after it may be acknowledged
            inference_started = time.perf_counter()
            loop = asyncio.get_running_loop()
            try:
                outgoing = await loop.run_in_executor(
                    self._inference_pool, self._vectorizer.infer, decoded
                )
            finally:
                batch.inferred.set()
            produce_started = time.perf_counter()
            metrics.STAGE_SECONDS.labels("inference").observe(produce_started - inference_started)
            # Records go out in batch order too, so a newer record for a painting is never
            # overtaken by an older one.
            if previous is not None:
                await previous.sent.wait()
            if self._failure is not None:
                return
            try:
                await asyncio.gather(*(self._send(item) for item in outgoing))
            finally:
                batch.sent.set()
            metrics.STAGE_SECONDS.labels("produce").observe(time.perf_counter() - produce_started)
            if self._failure is None:
                await batch.on_safe()
            elapsed = time.perf_counter() - started
            metrics.STAGE_SECONDS.labels("total").observe(elapsed)
            metrics.BATCH_SIZE.observe(len(batch.messages))
            metrics.THROUGHPUT.set(len(batch.messages) / elapsed if elapsed > 0 else 0.0)
        except asyncio.CancelledError as e:
            self._failure = self._failure or e
            raise
        except Exception as e:  # noqa: BLE001 - surfaced by on_failure, submit() and drain()
            first = self._failure is None
            self._failure = self._failure or e
            if first and self._on_failure is not None:
                await self._on_failure(self._failed())
        finally:
            batch.inferred.set()
            batch.sent.set()
            self._room.release()


class _Batch:
    def __init__(self, messages: list[Message], on_safe: OnSafe) -> None:
        self.messages = messages
        self.on_safe = on_safe
        self.inferred = asyncio.Event()
        self.sent = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
