"""The searches by an uploaded image: POST /similar/upload, and a blend (POST /similar/blend as a
form) whose clauses search by it. Each holds one of the few upload slots from before its body is
read (admission.py) until it is answered, and reads its body within the upload deadline."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from imgsim_search_api import embedding_client, parameters, query, upload
from imgsim_search_api.admission import UploadAdmission
from imgsim_search_api.blend import BlendQuery
from imgsim_search_api.embedding_client import EmbeddingClient, UploadVectors
from imgsim_search_api.errors import RequestError
from imgsim_search_api.index_model import IndexModel
from imgsim_search_api.knn import Filters
from imgsim_search_api.request_state import es_of, failures_of, index_model_of, settings_of
from imgsim_search_api.settings import SearchApiSettings
from imgsim_search_api.streaming import negotiate, respond


def embeddings_of(request: Request) -> EmbeddingClient:
    """The vectorizer's embedding endpoint; a 404 that says how to switch upload search on."""
    embeddings: EmbeddingClient | None = getattr(request.app.state, "embeddings", None)
    if embeddings is None:
        raise RequestError(404, embedding_client.switched_off(settings_of(request)))
    return embeddings


@contextmanager
def upload_slot(request: Request) -> Iterator[None]:
    """One of the upload slots, decided before the body is read: past the bound it never is."""
    admission: UploadAdmission = request.app.state.upload_admission
    with admission.slot():
        yield


async def similar_to_upload(request: Request) -> Response:
    embeddings = embeddings_of(request)
    with upload_slot(request):
        return await _search_by_upload(request, embeddings)


async def _search_by_upload(request: Request, embeddings: EmbeddingClient) -> Response:
    es, settings = es_of(request), settings_of(request)
    params = request.query_params
    known = await index_model_of(request)
    asked = parameters.parse_search(params, known.representations, known.metrics_of, settings)
    representations, metric, k, exact = asked.representations, asked.metric, asked.k, asked.exact
    data = await upload.within(
        settings.upload_read_timeout_s, upload.read_upload(request, settings.max_upload_bytes)
    )
    vectors, only_version = await _vectorized(data, embeddings, known, representations, settings)
    filters = Filters(equal=parameters.parse_filters(params), model_version=only_version)
    head = {
        "upload": True,
        "metric": metric.value,
        "k": k,
        "model": vectors.model.model_dump(),
        "index": known.index,
        # Set when the index mixes model versions: only paintings of the upload's one are searched.
        "only_model_version": only_version,
    }
    blocks = query.similar_blocks(
        es, known.index, settings, vectors.vectors, representations, metric, k, filters, exact
    )
    accept = negotiate(request.headers.get("accept"))
    return await respond(blocks, accept, failures_of(request), head)


async def _vectorized(
    data: bytes,
    embeddings: EmbeddingClient,
    known: IndexModel,
    representations: Sequence[Any],
    settings: SearchApiSettings,
) -> tuple[UploadVectors, str | None]:
    """The upload's vectors, by the vectorizer, and the model version to keep the search to
    (upload.comparable): a 413 for too many pixels, a 409 for vectors of another model."""
    upload.check_pixels(data, settings.max_upload_pixels)
    # Asked after reading the upload: a client that sent its body gets the answer, not a reset.
    vectors = await embeddings.embed(data)
    return vectors, upload.comparable(known, representations, vectors)


@dataclass(frozen=True)
class BlendImage:
    """The image a blend's upload clauses search by, not yet vectorized."""

    data: bytes
    embeddings: EmbeddingClient


async def read_blend_form(request: Request) -> tuple[Any, BlendImage]:
    """A blend as a form: its JSON (the `query` field) and its image (the `image` file)."""
    embeddings = embeddings_of(request)
    settings = settings_of(request)
    body, data = await upload.within(
        settings.upload_read_timeout_s,
        upload.read_blend_form(request, settings.max_upload_bytes),
    )
    return body, BlendImage(data, embeddings)


async def blend_upload_vectors(
    asked: BlendQuery, image: BlendImage | None, known: IndexModel, settings: SearchApiSettings
) -> tuple[UploadVectors | None, str | None]:
    """The vectors of the image the blend's upload clauses search by, and the model version to
    keep the search to; (None, None) when no clause does. An image without such a clause, or
    such a clause without an image, is a 400 that says how to send it."""
    if not asked.uploaded:
        if image is not None:
            raise RequestError(
                400,
                'the form carries an image but no clause searches by it: add {"upload": true, '
                '"representation": ..., "weight": ...} to the clauses, or send the blend as JSON',
                valid=["painting", "vector", "upload"],
            )
        return None, None
    if image is None:
        raise RequestError(
            400,
            "a clause searches by the upload: send the blend as multipart/form-data, its JSON "
            "in the `query` field and the image in the `image` field",
        )
    return await _vectorized(image.data, image.embeddings, known, asked.uploaded, settings)
