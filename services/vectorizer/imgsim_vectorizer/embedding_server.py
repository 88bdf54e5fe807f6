"""The vectorizer's embedding endpoint: an image in over HTTP, its vectors out.

`POST /embeddings` with the image's bytes as the body answers the model (name, version, card),
one vector per representation of the card and the decoded image's size and sha1; an image the
worker would dead-letter gets the dead letter's `reason` and message with a 4xx (413 too large,
422 not usable), and a full queue 503 `busy` with Retry-After. `GET /model` says which model
answers, `GET /healthz` that it does.

It spends the worker's CPU on whoever asks, so it listens on 127.0.0.1 unless
`VECTORIZER_EMBEDDING_HOST` says otherwise, and with `VECTORIZER_EMBEDDING_TOKEN` (or `_FILE`) set
it answers `/embeddings` and `/model` only to a caller that sends that token as
`Authorization: Bearer` (the search API's `SEARCH_API_EMBEDDING_TOKEN`); `/healthz` stays open
for health checks.

It runs in a thread of its own with its own event loop, beside the worker's metrics server and
apart from faust's loop: a slow batch does not hold a request's parsing back, and the worker runs
as before when the endpoint is off (`VECTORIZER_EMBEDDING_PORT=0`). `python -m
imgsim_vectorizer.embedding_server` runs the endpoint alone, without Kafka, for deployments that
scale it apart from ingestion.
"""

import asyncio
import hmac
import ipaddress
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Final

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from imgsim_common.access import load_secret_files
from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from imgsim_vectorizer.embedding import BUSY, Embedder, EmbeddingRefused

log = logging.getLogger(__name__)

EMBEDDER: Final = web.AppKey("embedder", Embedder)
BACKEND: Final = web.AppKey("backend", str)
RETRY_AFTER_S: Final = 1  # a busy endpoint frees a slot within a forward pass or two


class EmbeddingSettings(BaseSettings):
    """`VECTORIZER_EMBEDDING_*`: where the endpoint listens and how much it takes at once."""

    # hide_input_in_errors: a settings error would otherwise print every value read, the token too.
    model_config = SettingsConfigDict(
        env_prefix="VECTORIZER_EMBEDDING_", extra="forbid", hide_input_in_errors=True
    )

    # 0: no endpoint (a worker beside another on this machine, as `imgsim model swap` runs one).
    port: int = Field(9466, ge=0, le=65535)
    # Local only by default: it spends the worker's CPU on whoever asks (compose sets 0.0.0.0).
    host: str = "127.0.0.1"
    concurrency: int = Field(2, ge=1, le=64)  # uploads decoded and vectorized at once
    queue: int = Field(32, ge=0, le=10_000)  # uploads waiting beyond those; more: 503 busy
    max_bytes: int = Field(64 * 2**20, gt=0)
    # Set: `/embeddings` and `/model` answer only `Authorization: Bearer <token>`.
    token: SecretStr | None = None
    token_file: Path | None = None

    @model_validator(mode="after")
    def _token_from_file(self) -> "EmbeddingSettings":
        if self.token is not None and not self.token.get_secret_value():
            self.token = None  # set but empty: no token, not an empty one
        load_secret_files(self, ("token",))
        return self


def _json(body: dict[str, Any], status: int = 200, **headers: str) -> web.Response:
    # orjson writes float32 arrays as their shortest decimal form: parsed back and stored as
    # float32 (Elasticsearch's dense_vector), each is the very value the worker computed.
    return web.Response(
        body=orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _refusal(refused: EmbeddingRefused) -> web.Response:
    headers = {"Retry-After": str(RETRY_AFTER_S)} if refused.status == 503 else {}
    body = {"error": refused.message, "reason": str(refused.reason)}
    return _json(body, refused.status, **headers)


def _model(app: web.Application) -> dict[str, Any]:
    embedder = app[EMBEDDER]
    return {
        "model": embedder.model.model_dump(),
        "card": embedder.card.model_dump(mode="json"),
        "backend": app[BACKEND],
    }


async def embeddings(request: web.Request) -> web.Response:
    embedder = request.app[EMBEDDER]
    declared = request.content_length
    if declared is not None and declared > embedder.max_bytes:
        too_large = EmbeddingRefused(
            413, "too_large", f"the image has {declared} bytes, more than {embedder.max_bytes}"
        )
        return _refusal(too_large)
    if embedder.full:  # before the body is read: a busy endpoint does not buffer every upload
        return _refusal(EmbeddingRefused(503, BUSY, embedder.busy_message()))
    try:
        data = await request.read()
    except web.HTTPRequestEntityTooLarge:
        too_large = EmbeddingRefused(413, "too_large", f"more than {embedder.max_bytes} bytes")
        return _refusal(too_large)
    try:
        embedding = await embedder.embed(data)
    except EmbeddingRefused as refused:
        return _refusal(refused)
    image = embedding.image
    return _json(
        {
            **_model(request.app),
            "image": {"width": image.width, "height": image.height, "sha1": image.sha1},
            "vectors": dict(embedding.vectors),
            "seconds": {
                "decode": round(embedding.decode_seconds, 6),
                "inference": round(embedding.inference_seconds, 6),
            },
        }
    )


async def model(request: web.Request) -> web.Response:
    return _json(_model(request.app))


async def healthz(request: web.Request) -> web.Response:
    return _json({"status": "ready", "model": request.app[EMBEDDER].model.model_dump()})


OPEN_PATHS: Final = frozenset({"/healthz"})


def _guard(token: SecretStr) -> Middleware:
    """A middleware that answers 401 to a request without the token, before its body is read."""
    expected = token.get_secret_value().encode()

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        # In constant time: how long a wrong token took to refuse says nothing about the right one.
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected):
            return await handler(request)
        log.warning("refused %s %s: no or wrong token", request.method, request.path)
        body = {
            "error": "this endpoint needs its token (VECTORIZER_EMBEDDING_TOKEN) as "
            "`Authorization: Bearer <token>`: set SEARCH_API_EMBEDDING_TOKEN to it",
            "reason": "unauthorized",
        }
        return _json(body, 401, **{"WWW-Authenticate": 'Bearer realm="imgsim-embeddings"'})

    return guard


def create_web_app(
    embedder: Embedder, backend: str, token: SecretStr | None = None
) -> web.Application:
    # One byte above the limit: the handler, not aiohttp's generic 413, answers a larger body.
    middlewares: list[Middleware] = [] if token is None else [_guard(token)]
    app = web.Application(client_max_size=embedder.max_bytes + 1, middlewares=middlewares)
    app[EMBEDDER] = embedder
    app[BACKEND] = backend
    app.router.add_post("/embeddings", embeddings)
    app.router.add_get("/model", model)
    app.router.add_get("/healthz", healthz)
    return app


class EmbeddingServer:
    """The endpoint in a daemon thread with its own event loop, as the metrics server runs."""

    def __init__(
        self,
        embedder: Embedder,
        backend: str,
        host: str,
        port: int,
        token: SecretStr | None = None,
    ) -> None:
        """`port` 0: any free port (`url` says which); `token`: asked of every caller but the
        health check."""
        self._app = create_web_app(embedder, backend, token)
        self._open_to_all = token is None and not _loopback(host)
        self.host, self.port = host, port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="embedding-server", daemon=True
        )
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Listening when it returns; an address in use raises OSError."""
        if self._open_to_all:
            log.warning(
                "the embedding endpoint listens on %s without a token: whoever reaches it can "
                "spend this worker's CPU (set VECTORIZER_EMBEDDING_TOKEN)",
                self.host,
            )
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._open(), self._loop).result(30)
        except BaseException:
            self._close_loop()
            raise

    async def _open(self) -> None:
        runner = web.AppRunner(self._app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._runner = None
        self._close_loop()

    def _close_loop(self) -> None:
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: whatever it resolves to, not known to be local
        return False


def main() -> int:
    """The endpoint alone, without Kafka: the model of `VECTORIZER_*`, served until stopped."""
    from imgsim_vectorizer import worker
    from imgsim_vectorizer.settings import VectorizerSettings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings, endpoint = VectorizerSettings(), EmbeddingSettings()
    except ValidationError as e:
        print(f"error: invalid VECTORIZER_* settings:\n{e}", file=sys.stderr)
        return 2
    if endpoint.port == 0:
        print("error: VECTORIZER_EMBEDDING_PORT is 0: nothing to serve", file=sys.stderr)
        return 2
    try:
        server = worker.start_embedding_service(settings, endpoint)
    except (worker.ModelLoadError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    stopped = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stopped.set())
    stopped.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
