"""Batches flow through decode -> inference -> send, two at a time, in order.

Batch N+1 is decoded while batch N is in the network. Inference, sending and the acknowledgement
of the input stay in arrival order, so a newer record for a painting is never overtaken by an
older one. The commit order, which nothing here may break: a batch's outputs are sent and
acknowledged by Kafka first, and only then does `on_safe` release its input offsets for commit.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from typing import Protocol

from imgsim_vectorizer import metrics
from imgsim_vectorizer.vectorizing import Message, Outgoing, Prepared

Send = Callable[[Outgoing], Awaitable[None]]
OnSafe = Callable[[], Awaitable[None]]


class PipelineFailedError(RuntimeError):
    pass


class Stages(Protocol):
    async def prepare(self, messages: Sequence[Message]) -> Prepared: ...

    def complete(self, prepared: Prepared) -> list[Outgoing]: ...


class OrderedPipeline:
    def __init__(
        self,
        vectorizer: Stages,
        send: Send,
        inference_pool: Executor,
        max_in_flight: int = 2,
    ) -> None:
        self._vectorizer = vectorizer
        self._send = send
        self._inference_pool = inference_pool
        self._room = asyncio.Semaphore(max_in_flight)
        self._tail: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None

    async def submit(self, messages: Sequence[Message], on_safe: OnSafe) -> None:
        """Takes a batch; waits while `max_in_flight` batches are already under way."""
        self._raise_if_failed()
        await self._room.acquire()
        self._raise_if_failed()
        self._tail = asyncio.create_task(self._run(list(messages), self._tail, on_safe))

    async def drain(self) -> None:
        if self._tail is not None:
            await asyncio.wait([self._tail])
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise PipelineFailedError("a batch could not be delivered") from self._failure

    async def _run(
        self, messages: list[Message], previous: asyncio.Task[None] | None, on_safe: OnSafe
    ) -> None:
        started = time.perf_counter()
        try:
            prepared = await self._vectorizer.prepare(messages)
            metrics.STAGE_SECONDS.labels("decode").observe(prepared.decode_seconds)
            if previous is not None:
                await asyncio.wait([previous])
            if self._failure is not None:
                return  # an earlier batch failed: nothing after it may be acknowledged
            inference_started = time.perf_counter()
            loop = asyncio.get_running_loop()
            outgoing = await loop.run_in_executor(
                self._inference_pool, self._vectorizer.complete, prepared
            )
            produce_started = time.perf_counter()
            metrics.STAGE_SECONDS.labels("inference").observe(produce_started - inference_started)
            await asyncio.gather(*(self._send(item) for item in outgoing))
            metrics.STAGE_SECONDS.labels("produce").observe(time.perf_counter() - produce_started)
            await on_safe()
            elapsed = time.perf_counter() - started
            metrics.STAGE_SECONDS.labels("total").observe(elapsed)
            metrics.BATCH_SIZE.observe(len(messages))
            metrics.THROUGHPUT.set(len(messages) / elapsed if elapsed > 0 else 0.0)
        except BaseException as e:
            self._failure = self._failure or e
            raise
        finally:
            self._room.release()
