"""The Starlette app: one shared async Elasticsearch client, routes, errors and metrics."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from elasticsearch import (
    ApiError,
    AsyncElasticsearch,
    ConnectionError,
    ConnectionTimeout,
    NotFoundError,
    OrjsonSerializer,
    TransportError,
)
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from imgsim_search_api import (
    blend,
    blend_search,
    browse,
    embedding_client,
    files,
    ingestion,
    openapi,
    openapi_live,
    parameters,
    query,
    security_headers,
    upload,
    upload_routes,
)
from imgsim_search_api.admission import UploadAdmission
from imgsim_search_api.errors import RequestError
from imgsim_search_api.index_watch import IndexWatch
from imgsim_search_api.knn import Filters
from imgsim_search_api.last_resort import LastResort
from imgsim_search_api.metrics import MetricsMiddleware, metrics_endpoint
from imgsim_search_api.request_state import (
    es_of,
    failures_of,
    index_model_of,
    settings_of,
)
from imgsim_search_api.settings import SearchApiSettings
from imgsim_search_api.streaming import negotiate, respond

log = logging.getLogger(__name__)

# The handlers' names for what they reach through the app's state (request_state.py).
_es, _settings, _index_model, _failures = es_of, settings_of, index_model_of, failures_of


STATIC = Path(__file__).parent / "static"


async def gallery(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def representations(request: Request) -> Response:
    known = await _index_model(request)
    return JSONResponse(
        {
            "representations": [
                {
                    "name": r.representation.name,
                    "dims": r.representation.dims,
                    "description": r.representation.description,
                    "metrics": [m.value for m in r.metrics],
                    "source": r.source,
                }
                for r in known.indexed
            ],
            "metrics": [m.value for m in known.metrics],
            "default": known.default_representation,
            "alias": _settings(request).index,
            # Whether this server searches by uploaded image at all (a vectorizer's embedding
            # endpoint configured); the gallery offers the upload box only when it does.
            "upload_search": _settings(request).upload_search,
            **known.to_json(),
        }
    )


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "alive"})


async def readyz(request: Request) -> Response:
    es, settings = _es(request), _settings(request)
    try:
        if not await es.indices.exists_alias(name=settings.index) and not await es.indices.exists(
            index=settings.index
        ):
            return JSONResponse({"status": "no index", "index": settings.index}, status_code=503)
        known = await _index_model(request)
    except RequestError as e:  # there, but not searchable as an index of paintings
        return JSONResponse(
            {"status": "index not understood", "index": settings.index, "error": e.message}, 503
        )
    except (TransportError, ApiError) as e:
        return JSONResponse({"status": "elasticsearch unreachable", "error": str(e)}, 503)
    watch: IndexWatch = request.app.state.index_watch
    return JSONResponse(
        {
            "status": "ready",
            "index": settings.index,
            "serving": known.index,
            "model": None if known.model is None else known.model.model_dump(),
            # The last attempt to learn it again failed: the answer is the last one learned.
            "problem": watch.problem,
        }
    )


async def ingestion_health(request: Request) -> Response:
    checker_url = _settings(request).checker_url
    return await ingestion.relay(request.app.state.checker_http, checker_url, "/health")


async def ingestion_history(request: Request) -> Response:
    checker_url = _settings(request).checker_url
    return await ingestion.relay(request.app.state.checker_http, checker_url, "/history")


async def get_painting(request: Request) -> Response:
    es, settings = _es(request), _settings(request)
    painting_id = parameters.painting_id(request)
    option = request.query_params.get("vectors")
    if option is not None:
        known = await _index_model(request)
        wanted = parameters.parse_vectors_option(option, known.representations)
        if wanted:
            return JSONResponse(
                await query.painting_with_vectors(
                    es, known.index, painting_id, wanted, known.metrics_of
                )
            )
    try:
        document = await es.get(index=settings.index, id=painting_id, source_excludes=["vectors"])
    except NotFoundError:
        raise RequestError(404, f"no painting {painting_id!r}") from None
    return JSONResponse({"id": document["_id"], **document["_source"]})


async def list_paintings(request: Request) -> Response:
    es, settings = _es(request), _settings(request)
    return JSONResponse(await browse.listing(es, settings.index, request.query_params))


async def random_paintings(request: Request) -> Response:
    es, settings = _es(request), _settings(request)
    return JSONResponse(await browse.random_sample(es, settings.index, request.query_params))


async def image(request: Request) -> Response:
    es, settings = _es(request), _settings(request)
    path, version = await files.painting_file(
        es, settings.index, settings.image_root, parameters.painting_id(request)
    )
    return await files.original(request, path, version)


async def thumbnail(request: Request) -> Response:
    es, settings = _es(request), _settings(request)
    size = files.thumbnail_size(request.query_params.get("size"))
    path, version = await files.painting_file(
        es, settings.index, settings.image_root, parameters.painting_id(request)
    )
    return await files.thumbnail(request, path, version, size, settings.thumbnail_cache_dir)


async def similar_to_painting(request: Request) -> Response:
    es, settings = _es(request), _settings(request)
    painting_id = parameters.painting_id(request)
    params = request.query_params
    known = await _index_model(request)
    asked = parameters.parse_search(params, known.representations, known.metrics_of, settings)
    representations, metric, k, exact = asked.representations, asked.metric, asked.k, asked.exact
    same_style = parameters.parse_flag("same_style", params.get("same_style"))
    exclude_artist = parameters.parse_flag("exclude_artist", params.get("exclude_artist"))
    media_type = negotiate(request.headers.get("accept"))
    metadata, vectors = await query.stored_vectors(
        es, known.index, painting_id, representations, metric
    )
    exclude: dict[str, str] = {}
    # The painting's own style exactly, not the typed filters' forgiving match: "Realism" must
    # not keep "Socialist Realism".
    one_of = {"style": [str(metadata["style"])]} if same_style and metadata.get("style") else {}
    if exclude_artist and metadata.get("artist"):
        exclude["artist"] = str(metadata["artist"])
    per_artist = parameters.parse_per_artist(params.get("per_artist"), settings)
    filters = Filters(
        parameters.parse_filters(params),
        exclude,
        exclude_ids=[painting_id],
        one_of=one_of,
        per_artist=per_artist,
    )
    head = {"id": painting_id, "metric": metric.value, "k": k, "metadata": metadata}
    blocks = query.similar_blocks(
        es, known.index, settings, vectors, representations, metric, k, filters, exact
    )
    return await respond(blocks, media_type, _failures(request), head)


async def _json_body(request: Request) -> Any:
    return await parameters.json_body(request)


async def similar_to_vector(request: Request) -> Response:
    es, settings = _es(request), _settings(request)
    body = await _json_body(request)
    known = await _index_model(request)
    asked = parameters.parse_vector_query(body, settings, known.representations)
    parameters.require_mapped([asked.representation], asked.metric, known.metrics_of)
    blocks = query.similar_blocks(
        es,
        known.index,
        settings,
        {asked.representation.name: asked.vector},
        [asked.representation],
        asked.metric,
        asked.k,
        asked.filters,
        asked.exact,
    )
    return await respond(blocks, negotiate(request.headers.get("accept")), _failures(request))


async def similar_blend(request: Request) -> Response:
    """Several clauses (paintings, vectors or an uploaded image, each a representation and a
    weight) ranked as one by the weighted sum of their scores: blend_search.py. As JSON, or as a
    form that carries the image too (upload_routes.py), holding an upload slot."""
    if not upload.is_form(request):
        return await _blended(request, await _json_body(request), None)
    with upload_routes.upload_slot(request):
        body, image = await upload_routes.read_blend_form(request)
        return await _blended(request, body, image)


async def _blended(request: Request, body: Any, image: upload_routes.BlendImage | None) -> Response:
    es, settings = _es(request), _settings(request)
    known = await _index_model(request)
    asked = blend.parse_blend_query(body, settings, known.representations)
    used = list(dict.fromkeys(c.representation for c in asked.clauses))
    parameters.require_mapped(used, asked.metric, known.metrics_of)
    uploaded, only_version = await upload_routes.blend_upload_vectors(asked, image, known, settings)
    vectors, metadata = await blend_search.clause_vectors(
        es, known.index, asked, None if uploaded is None else uploaded.vectors
    )
    filters = blend_search.blend_filters(asked, metadata, only_version)
    blocks = blend_search.blend_blocks(es, known.index, settings, asked, vectors, filters)
    head = blend_search.blend_head(asked, metadata)
    if uploaded is not None:
        head["upload_model"] = uploaded.model.model_dump()
    return await respond(blocks, negotiate(request.headers.get("accept")), _failures(request), head)


async def request_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestError)
    headers = None
    if error.status in (429, 503):
        wait = error.details.get("retry_after_s", _settings(request).retry_after_s)
        headers = {"Retry-After": str(wait)}
    if error.status == 429:
        # The refused upload's body is never read: closing the connection stops it at once,
        # where keeping it would mean receiving every byte only to throw it away.
        headers = {**(headers or {}), "Connection": "close"}
    return JSONResponse(
        {"error": error.message, **error.details}, status_code=error.status, headers=headers
    )


async def framework_error(request: Request, error: Exception) -> Response:
    """Starlette's own refusals (no such route, a method not allowed, a malformed form) in the
    API's JSON shape rather than as plain text."""
    assert isinstance(error, HTTPException)
    return JSONResponse(
        {"error": error.detail}, status_code=error.status_code, headers=error.headers
    )


async def backend_error(request: Request, error: Exception) -> Response:
    failure = _failures(request)(error)
    return await request_error(request, RequestError(failure["status"], failure["error"]))


def create_app(settings: SearchApiSettings | None = None) -> Starlette:
    settings = settings or SearchApiSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # One client for the whole process; it reconnects by itself when Elasticsearch is back.
        app.state.es = AsyncElasticsearch(
            **settings.elasticsearch_options(),
            request_timeout=settings.request_timeout_s,
            connections_per_node=settings.elasticsearch_connections,
            max_retries=1,
            retry_on_timeout=True,
            # Every similar search sends and receives vectors of up to 960 numbers: orjson
            # encodes and parses them several times faster than the standard library.
            serializer=OrjsonSerializer(),
        )
        app.state.settings = settings
        app.state.index_watch = IndexWatch(app.state.es, settings.index, settings.index_model_ttl_s)
        app.state.checker_http = ingestion.client()
        app.state.embeddings = embedding_client.client_for(settings)
        greeting = (
            asyncio.create_task(embedding_client.greet(app.state.embeddings))
            if app.state.embeddings is not None
            else None
        )
        try:
            yield
        finally:
            if greeting is not None:
                greeting.cancel()
            await app.state.es.close()
            await app.state.checker_http.aclose()
            if app.state.embeddings is not None:
                await app.state.embeddings.aclose()

    schema = openapi.document(settings)  # what the settings alone decide, built once

    async def openapi_endpoint(request: Request) -> Response:
        # The representations' names and lengths follow the index's model (openapi_live.py).
        return JSONResponse(await openapi_live.served(request, schema))

    routes = [
        Route("/", gallery),
        Route("/openapi.json", openapi_endpoint),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Route("/representations", representations),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        Route("/ingestion/health", ingestion_health),
        Route("/ingestion/history", ingestion_history),
        Route("/paintings", list_paintings),
        Route("/random", random_paintings),
        Route("/paintings/{painting_id:path}", get_painting),
        Route("/images/{painting_id:path}", image),
        Route("/thumbnails/{painting_id:path}", thumbnail),
        Route("/similar/{painting_id:path}", similar_to_painting),
        Route("/similar/upload", upload_routes.similar_to_upload, methods=["POST"]),
        Route("/similar/blend", similar_blend, methods=["POST"]),
        Route("/similar", similar_to_vector, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            *security_headers.middleware(settings.cors_origins),
            # Inside the security headers, so that an unexpected error's 500 carries them.
            Middleware(LastResort),
            Middleware(MetricsMiddleware),
        ],
        exception_handlers={
            HTTPException: framework_error,
            RequestError: request_error,
            ConnectionError: backend_error,
            ConnectionTimeout: backend_error,
            ApiError: backend_error,
        },
    )
    app.state.upload_admission = UploadAdmission(settings.max_concurrent_uploads)
    return app
