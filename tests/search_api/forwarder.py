"""A TCP forwarder to put between the search API (or the checker) and Elasticsearch: it
forwards whole requests, can hold chosen ones, and records when the client side closes them."""

import asyncio
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

from tests.support import free_port


@dataclass
class HeldRequest:
    """A request the forwarder kept from Elasticsearch; `closed_at` (monotonic) is when the API
    side closed its connection."""

    request: bytes
    closed_at: float | None = None


CONTENT_LENGTH = re.compile(rb"^content-length:\s*(\d+)", re.IGNORECASE | re.MULTILINE)


class Forwarder:
    """Listens on a free port (`url`) and forwards every HTTP/1.1 request (with `Content-Length`,
    as the Elasticsearch client sends them) to Elasticsearch, and its answer back, until switched
    off.

    A request that `hold` picks is never forwarded: it is recorded in `held`, and its connection
    stays open until the API side closes it."""

    def __init__(
        self, elasticsearch_url: str, hold: Callable[[bytes], bool] = lambda request: False
    ) -> None:
        target = urlparse(elasticsearch_url)
        self.target = (target.hostname or "127.0.0.1", target.port or 9200)
        self.port, self.hold = free_port(), hold
        self.url = f"http://127.0.0.1:{self.port}"
        self.held: list[HeldRequest] = []
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Whole requests, so that `hold` sees each one entire (the client reuses connections).
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = CONTENT_LENGTH.search(head)
                request = head + await reader.readexactly(int(length[1]) if length else 0)
                if self.hold(request):
                    held = HeldRequest(request)
                    self.held.append(held)
                    await reader.read()  # until the API side closes the connection
                    held.closed_at = time.monotonic()
                    return
                writer.write(request)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self.writers |= {writer, upstream_writer}
        await asyncio.gather(
            self._requests(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    def on(self) -> None:
        async def listen() -> None:
            self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

        asyncio.run_coroutine_threadsafe(listen(), self.loop).result(10)

    def off(self) -> None:
        async def close() -> None:
            assert self.server is not None
            self.server.close()
            for writer in self.writers:
                writer.close()
            self.writers.clear()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
