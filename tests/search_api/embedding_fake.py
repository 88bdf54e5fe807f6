"""A stand-in for the vectorizer's embedding endpoint, over real HTTP: `POST /embeddings` and
`GET /model` as the vectorizer answers them, with vectors drawn from the image's bytes (the same
image, the same vectors) for a card the test chooses, or the refusal the test sets."""

import contextlib
import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from imgsim_common.model_card import ModelCard, backbone_card
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support import serving

# The backbone's card under a version of its own: an index of it is only made by a test.
FAKE_CARD = backbone_card("MobileNetV3Large", 224, "random", "fake0embed")


def fake_vectors(image: bytes, card: ModelCard) -> dict[str, list[float]]:
    rng = np.random.default_rng(int.from_bytes(hashlib.sha1(image).digest()[:8], "big"))
    return {
        r.name: rng.standard_normal(r.dims).astype(np.float32).tolist()
        for r in card.representations
    }


@dataclass
class FakeEmbeddingService:
    card: ModelCard = field(default_factory=lambda: FAKE_CARD)
    # None: answer with vectors; else (status, body) to answer every embedding request with.
    refusal: tuple[int, Any] | None = None
    received: list[bytes] = field(default_factory=list)
    # Representations whose vectors the answer leaves out (an endpoint that is not right).
    left_out: frozenset[str] = frozenset()

    def app(self) -> Starlette:
        async def embeddings(request: Request) -> Response:
            image = await request.body()
            self.received.append(image)
            if self.refusal is not None:
                status, body = self.refusal
                if isinstance(body, str):
                    return Response(body, status, media_type="text/html")
                return JSONResponse(body, status, headers={"Retry-After": "1"})
            vectors = fake_vectors(image, self.card)
            return JSONResponse(
                {
                    "model": self.card.info.model_dump(),
                    "card": self.card.model_dump(mode="json"),
                    "backend": "fake",
                    "image": {"width": 1, "height": 1, "sha1": hashlib.sha1(image).hexdigest()},
                    "vectors": {k: v for k, v in vectors.items() if k not in self.left_out},
                }
            )

        async def model(request: Request) -> Response:
            return JSONResponse({"model": self.card.info.model_dump(), "card": {}})

        return Starlette(
            routes=[
                Route("/embeddings", embeddings, methods=["POST"]),
                Route("/model", model),
            ]
        )


@contextlib.contextmanager
def running(service: FakeEmbeddingService) -> Iterator[str]:
    """The service on a free port for the block; yields its URL."""
    with serving(service.app()) as url:
        yield url


_shared: tuple[FakeEmbeddingService, str] | None = None
# Held for the session: a context manager that is collected closes its generator, which would
# stop the server.
_serving: list[contextlib.AbstractContextManager[str]] = []
_lock = threading.Lock()


def shared_service() -> tuple[FakeEmbeddingService, str]:
    """One stand-in for the whole session, for API servers whose tests do not look at uploads'
    vectors (the gallery's upload, an evaluation that is refused): started at first use, left
    running until the session ends (its thread is a daemon)."""
    global _shared
    with _lock:
        if _shared is None:
            service = FakeEmbeddingService()
            context = running(service)
            _shared = service, context.__enter__()
            _serving.append(context)
        return _shared
