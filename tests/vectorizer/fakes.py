"""A stand-in for confluent_kafka's Producer, for the publisher's tests without a broker."""

import json
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, Message
from imgsim_common import contract

Delivered = Callable[[KafkaError | None, Any], None]


class FakeProducer:
    """Queues records like librdkafka: reports come only from poll(timeout > 0) and flush()."""

    def __init__(self, capacity: int = 1000, fail: frozenset[bytes] = frozenset()) -> None:
        self.capacity = capacity
        self.fail = fail
        self.records: list[tuple[str, bytes, bytes]] = []
        self.queue_full = 0
        self.flushed = False
        self._pending: list[tuple[Delivered, bytes, bytes]] = []

    def produce(
        self,
        topic: str,
        *,
        key: bytes,
        value: bytes,
        headers: list[tuple[str, str | bytes | None]],
        on_delivery: Delivered,
    ) -> None:
        assert headers == [(contract.CONTRACT_HEADER, b"1")], "every record names its contract"
        if len(self._pending) >= self.capacity:
            self.queue_full += 1
            raise BufferError("Local: Queue full")
        self.records.append((topic, key, value))
        self._pending.append((on_delivery, key, value))

    def poll(self, timeout: float) -> int:
        return self._deliver() if timeout > 0 else 0

    def flush(self, timeout: float = -1) -> int:
        self.flushed = True
        self._deliver()
        return 0

    def _deliver(self) -> int:
        pending, self._pending = self._pending, []
        for on_delivery, key, value in pending:
            error = (
                KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "too large") if key in self.fail else None
            )
            on_delivery(error, Message(key=key, value=value))
        return len(pending)

    def values(self) -> dict[str, dict[str, Any]]:
        return {key.decode(): json.loads(value) for _, key, value in self.records}
