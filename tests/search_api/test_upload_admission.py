"""Upload search takes at most SEARCH_API_MAX_CONCURRENT_UPLOADS uploads at once: past the bound
an upload is answered 429 with Retry-After before its body is read, the connection is closed
rather than the body received, an HTTP client that was still sending reads the 429, and searches
by painting keep answering meanwhile. Against the real API (uvicorn) on the real Elasticsearch,
with a stand-in embedding endpoint that holds uploads until the test lets them go."""

import io
import json
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import anyio.to_thread
import httpx
import numpy as np
import pytest
from imgsim_stack.settings import StackSettings
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.search_api.embedding_fake import FAKE_CARD, fake_vectors
from tests.search_api.fixtures import ApiServer, SearchIndex, start_api
from tests.support import eventually, serving

pytestmark = pytest.mark.integration

BOUND = 2
FLOOD_BYTES = 20_000_000


@dataclass
class GatedEmbeddings:
    """The vectorizer's endpoint as the fake answers it, but every upload waits at the gate."""

    gate: threading.Event = field(default_factory=threading.Event)
    arrived: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        async def embeddings(request: Request) -> Response:
            image = await request.body()
            with self.lock:
                self.arrived += 1
            await anyio.to_thread.run_sync(self.gate.wait, 60)
            return JSONResponse(
                {
                    "model": FAKE_CARD.info.model_dump(),
                    "card": FAKE_CARD.model_dump(mode="json"),
                    "vectors": fake_vectors(image, FAKE_CARD),
                }
            )

        async def model(request: Request) -> Response:
            return JSONResponse({"model": FAKE_CARD.info.model_dump()})

        return Starlette(
            routes=[Route("/embeddings", embeddings, methods=["POST"]), Route("/model", model)]
        )


@dataclass
class Rig:
    api: ApiServer
    embeddings: GatedEmbeddings


@pytest.fixture
def rig(stack: StackSettings, search_index: SearchIndex, image_root: Path) -> Iterator[Rig]:
    gated = GatedEmbeddings()
    with serving(gated.app()) as embedding_url:
        api = start_api(
            stack.elasticsearch,
            search_index.name,
            image_root,
            embedding_url=embedding_url,
            environment={"SEARCH_API_MAX_CONCURRENT_UPLOADS": str(BOUND)},
        )
        try:
            yield Rig(api, gated)
        finally:
            gated.gate.set()
            api.stop()


def _jpeg() -> bytes:
    pixels = np.random.default_rng(3).integers(0, 256, (64, 80, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG")
    return buffer.getvalue()


def _upload(url: str) -> httpx.Response:
    return httpx.post(
        f"{url}/similar/upload",
        content=_jpeg(),
        headers={"Content-Type": "image/jpeg"},
        timeout=60,
    )


def _hold(rig: Rig, pool: ThreadPoolExecutor) -> list[Future[httpx.Response]]:
    held = [pool.submit(_upload, rig.api.url) for _ in range(BOUND)]
    eventually(lambda: rig.embeddings.arrived == BOUND, 20, f"{BOUND} uploads at the vectorizer")
    return held


def _read_response(sock: socket.socket) -> tuple[str, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body: status line, headers, body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection in the body"
        body += chunk
    return status, headers, body


def test_past_the_bound_an_upload_is_refused_before_its_body_is_sent(rig: Rig) -> None:
    with ThreadPoolExecutor(BOUND) as pool:
        held = _hold(rig, pool)
        port = int(rig.api.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            # The headers of a 20 MB upload, and not one byte of its body.
            sock.sendall(
                b"POST /similar/upload HTTP/1.1\r\nHost: api\r\nContent-Type: image/jpeg\r\n"
                b"Content-Length: %d\r\n\r\n" % FLOOD_BYTES
            )
            status, headers, body = _read_response(sock)
            assert status.startswith("HTTP/1.1 429"), status
            assert int(headers["retry-after"]) >= 1
            refusal = json.loads(body)
            assert refusal["reason"] == "too_many_uploads"
            assert "SEARCH_API_MAX_CONCURRENT_UPLOADS" in refusal["error"]
            # The body is not wanted: the server closes the connection rather than receive it.
            assert headers["connection"] == "close"
            try:
                assert sock.recv(65536) == b"", "the connection should be closed"
            except ConnectionResetError:
                pass

        # Searches by painting are not queued behind the uploads.
        similar = httpx.get(f"{rig.api.url}/similar/collection/painting-001.jpg", timeout=10)
        assert similar.status_code == 200, similar.text
        in_flight = httpx.get(f"{rig.api.url}/metrics", timeout=10).text
        assert f"imgsim_search_api_uploads_in_flight {float(BOUND)}" in in_flight

        rig.embeddings.gate.set()
        for upload in held:
            assert upload.result(60).status_code == 200, upload.result().text
    # The slots are free again: the next upload is searched.
    again = _upload(rig.api.url)
    assert again.status_code == 200, again.text
    assert rig.embeddings.arrived == BOUND + 1


def test_a_client_that_expects_100_continue_is_refused_without_sending_its_body(rig: Rig) -> None:
    with ThreadPoolExecutor(BOUND) as pool:
        _hold(rig, pool)
        port = int(rig.api.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                b"POST /similar/upload HTTP/1.1\r\nHost: api\r\nContent-Type: image/jpeg\r\n"
                b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % FLOOD_BYTES
            )
            status, headers, _ = _read_response(sock)
        assert status.startswith("HTTP/1.1 429"), f"{status}: no 100 Continue was due"
        assert headers["retry-after"]
        rig.embeddings.gate.set()


def test_refused_uploads_are_counted_by_status_and_the_rest_of_the_api_answers(
    rig: Rig,
) -> None:
    with ThreadPoolExecutor(BOUND) as pool:
        _hold(rig, pool)
        refused = [_upload(rig.api.url) for _ in range(3)]
        assert [r.status_code for r in refused] == [429] * 3
        # A client still sending a large body when the server answers and closes reads the 429.
        large = httpx.post(
            f"{rig.api.url}/similar/upload", content=b"\xff" * FLOOD_BYTES, timeout=30
        )
        assert large.status_code == 429, large.text
        assert refused[0].headers["retry-after"] == "1"
        assert httpx.get(f"{rig.api.url}/paintings", timeout=10).status_code == 200
        metrics = httpx.get(f"{rig.api.url}/metrics", timeout=10).text
        assert 'route="/similar/upload",status="429"' in metrics
        rig.embeddings.gate.set()
    assert rig.embeddings.arrived == BOUND, "a refused upload never reaches the vectorizer"
