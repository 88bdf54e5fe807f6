"""The vectorizer's embedding endpoint as upload search asks it: an image out, vectors back.

Uploads are vectorized by the vectorizer (`POST /embeddings`), with the very decoding, model and
backend that vectorize the collection; this process holds no model. What can go wrong is said
in the API's own words: no vectorizer answering is a 503 with Retry-After (everything else keeps
working), an image it cannot use keeps the vectorizer's 413 or 422 and reason, a refused token is
a 502 that names the setting (never the token), and anything else at that address is a 502.
"""

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from imgsim_common.model_card import ModelCard
from imgsim_common.records import ModelInfo
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from imgsim_search_api.errors import RequestError
from imgsim_search_api.settings import SearchApiSettings

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 3.0  # a vectorizer that is not there is known at once, not after a read


class _Answer(BaseModel):
    """The part of `POST /embeddings`'s answer upload search reads."""

    model_config = ConfigDict(extra="ignore")

    model: ModelInfo
    card: ModelCard
    vectors: dict[str, list[float]]


@dataclass(frozen=True)
class UploadVectors:
    model: ModelInfo
    # The vectorizer's card's representations, name -> dims: what its model produces.
    produces: Mapping[str, int]
    vectors: Mapping[str, list[float]]


def _error_text(response: httpx.Response) -> tuple[str, str | None]:
    """The vectorizer's `error` and `reason`, or the start of whatever else it said."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase, None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        reason = body.get("reason")
        return body["error"], reason if isinstance(reason, str) else None
    return str(body)[:200], None


def _fields(error: ValidationError) -> str:
    wrong = sorted(
        {".".join(str(part) for part in e["loc"][:1]) or "the whole" for e in error.errors()}
    )
    return f"wrong or missing: {', '.join(wrong)}"


class EmbeddingClient:
    def __init__(
        self,
        url: str,
        timeout_s: float,
        transport: httpx.AsyncBaseTransport | None = None,
        token: SecretStr | None = None,
    ):
        """`url`: the endpoint's base, e.g. http://127.0.0.1:9466; `transport` for tests;
        `token`: the endpoint's shared token (VECTORIZER_EMBEDDING_TOKEN), if it asks for one."""
        self.url = url
        headers = {} if token is None else {"Authorization": f"Bearer {token.get_secret_value()}"}
        self._http = httpx.AsyncClient(
            base_url=url,
            timeout=httpx.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s)),
            transport=transport,
            headers=headers,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def model(self) -> ModelInfo:
        """The model the vectorizer runs (`GET /model`); RequestError when it does not answer."""
        body = await self._request("GET", "/model")
        try:
            return ModelInfo.model_validate(body.get("model") if isinstance(body, dict) else None)
        except ValidationError as e:
            raise self._wrong(f"its /model is not a model ({_fields(e)})") from None

    async def embed(self, image: bytes) -> UploadVectors:
        body = await self._request(
            "POST",
            "/embeddings",
            content=image,
            headers={"Content-Type": "application/octet-stream"},
        )
        try:
            answer = _Answer.model_validate(body)
        except ValidationError as e:
            raise self._wrong(f"its answer is not an embedding ({_fields(e)})") from None
        produces = {r.name: r.dims for r in answer.card.representations}
        wrong = [
            name for name, dims in produces.items() if len(answer.vectors.get(name, ())) != dims
        ]
        if wrong:
            raise self._wrong(f"its answer lacks the card's {', '.join(wrong)} vectors")
        return UploadVectors(answer.model, produces, answer.vectors)

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as e:
            raise RequestError(
                503,
                f"upload search is unavailable: no vectorizer answers at {self.url} "
                f"({type(e).__name__}); it is not running, still loading its model, or "
                "SEARCH_API_EMBEDDING_URL names another address",
            ) from None
        if response.status_code == 200:
            try:
                return response.json()
            except ValueError:
                raise self._wrong("it did not answer JSON") from None
        message, reason = _error_text(response)
        details = {"reason": reason} if reason else {}
        if response.status_code in (413, 422):
            raise RequestError(
                response.status_code, f"the upload is not a usable image: {message}", **details
            )
        if response.status_code == 503:
            raise RequestError(503, f"upload search is unavailable: {message}", **details)
        if response.status_code in (401, 403):
            raise self._wrong(
                f"it refused this server's token ({response.status_code}): set "
                "SEARCH_API_EMBEDDING_TOKEN (or _FILE) to the endpoint's VECTORIZER_EMBEDDING_TOKEN"
            )
        raise self._wrong(f"it answered {response.status_code}: {message}")

    def _wrong(self, what: str) -> RequestError:
        log.error("the vectorizer's embedding endpoint at %s is not usable: %s", self.url, what)
        return RequestError(
            502,
            f"upload search failed: the vectorizer's endpoint at {self.url} is not usable: {what}",
        )


UPLOADS_OFF = (
    "upload search is switched off: set SEARCH_API_EMBEDDING_URL to the vectorizer's embedding "
    "endpoint (e.g. http://127.0.0.1:9466)"
)
# What upload search read when it ran the model in this process; now the vectorizer's business.
RETIRED_SETTINGS = (
    "SEARCH_API_MODEL_BACKBONE",
    "SEARCH_API_MODEL_WEIGHTS",
    "SEARCH_API_MODEL_PATH",
    "SEARCH_API_MODEL_BACKEND",
    "SEARCH_API_ONNX_CACHE_DIR",
    "SEARCH_API_ONNX_TOLERANCE",
)


def switched_off(settings: SearchApiSettings) -> str:
    if settings.upload_enabled:
        return UPLOADS_OFF
    return "upload search is switched off (SEARCH_API_UPLOAD_ENABLED)"


def client_for(settings: SearchApiSettings) -> EmbeddingClient | None:
    """The vectorizer's embedding endpoint when upload search is on; says at start-up why not,
    and names the model settings this process no longer reads."""
    retired = [name for name in RETIRED_SETTINGS if os.environ.get(name)]
    if retired:
        log.warning(
            "%s: no longer read; uploads are vectorized by the vectorizer at "
            "SEARCH_API_EMBEDDING_URL, with its own model settings",
            ", ".join(retired),
        )
    if not settings.upload_search:
        if settings.upload_enabled:
            log.warning("%s", UPLOADS_OFF)
        return None
    return EmbeddingClient(
        settings.embedding_url, settings.embedding_timeout_s, token=settings.embedding_token
    )


async def greet(embeddings: EmbeddingClient) -> None:
    """One line in the log at start-up: which model uploads will be vectorized by, or why none."""
    try:
        model = await embeddings.model()
    except RequestError as e:
        log.warning("%s (asked again at each upload)", e.message)
        return
    log.info(
        "upload search: the vectorizer at %s runs %s@%s", embeddings.url, model.name, model.version
    )
