"""Elasticsearch going away and coming back: 503 with Retry-After, then answers again without
a restart. A switchable TCP forwarder stands between the API and the real Elasticsearch."""

import asyncio
import threading
import time
from urllib.parse import urlparse

import httpx
import pytest
from imgsim_stack.settings import StackSettings

from tests.search_api.fixtures import SearchIndex, start_api
from tests.vectorizer.fixtures import free_port

pytestmark = pytest.mark.integration


class Forwarder:
    """Listens on `port` and pipes every connection to the target, until switched off."""

    def __init__(self, port: int, target_host: str, target_port: int) -> None:
        self.port, self.target = port, (target_host, target_port)
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

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self.writers |= {writer, upstream_writer}
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
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


def test_the_api_answers_503_while_elasticsearch_is_away_and_recovers_by_itself(
    stack: StackSettings, search_index: SearchIndex
) -> None:
    target = urlparse(stack.elasticsearch)
    forwarder = Forwarder(free_port(), target.hostname or "127.0.0.1", target.port or 9200)
    forwarder.on()
    server = start_api(f"http://127.0.0.1:{forwarder.port}", search_index.name)
    url = f"{server.url}/similar/collection/painting-007.jpg"
    try:
        assert httpx.get(url, timeout=30).status_code == 200

        forwarder.off()
        away = httpx.get(url, timeout=30)
        ready = httpx.get(f"{server.url}/readyz", timeout=30)

        forwarder.on()
        deadline = time.monotonic() + 30
        while (back := httpx.get(url, timeout=30)).status_code != 200:
            assert time.monotonic() < deadline, back.text
            time.sleep(0.5)
    finally:
        server.process.terminate()
        server.process.wait(10)
        forwarder.off()

    assert away.status_code == 503 and away.headers["retry-after"] == "5"
    assert ready.status_code == 503
    assert back.json()["results"][0]["hits"]
