"""What a request handler reaches through the app's state: the one Elasticsearch client, the
settings, what the index behind the alias holds, and how Elasticsearch's errors are answered."""

import logging
from collections.abc import Callable
from typing import Any

from elasticsearch import (
    ApiError,
    AsyncElasticsearch,
    AuthenticationException,
    AuthorizationException,
    ConnectionError,
    ConnectionTimeout,
    NotFoundError,
)
from starlette.requests import Request

from imgsim_search_api.index_model import IndexModel
from imgsim_search_api.index_watch import IndexWatch
from imgsim_search_api.settings import SearchApiSettings

log = logging.getLogger(__name__)

UNAVAILABLE = (ConnectionError, ConnectionTimeout)


def es_of(request: Request) -> AsyncElasticsearch:
    client: AsyncElasticsearch = request.app.state.es
    return client


def settings_of(request: Request) -> SearchApiSettings:
    settings: SearchApiSettings = request.app.state.settings
    return settings


async def index_model_of(request: Request) -> IndexModel:
    """What the index behind the alias holds now (no older than SEARCH_API_INDEX_MODEL_TTL_S)."""
    watch: IndexWatch = request.app.state.index_watch
    return await watch.current()


def failures_of(request: Request) -> Callable[[Exception], dict[str, Any]]:
    """`elasticsearch_failure`, which also forgets what the index holds when the index searched
    is gone (deleted after an alias swap, say): the next request learns it again."""

    def failure(error: Exception) -> dict[str, Any]:
        watch: IndexWatch | None = getattr(request.app.state, "index_watch", None)
        if isinstance(error, NotFoundError) and watch is not None:
            watch.forget()
        return elasticsearch_failure(error)

    return failure


def elasticsearch_failure(error: Exception) -> dict[str, Any]:
    """The status and message an Elasticsearch client error is answered with."""
    if isinstance(error, UNAVAILABLE) or (isinstance(error, ApiError) and error.meta.status >= 500):
        return {"status": 503, "error": "Elasticsearch is unavailable; try again shortly"}
    if isinstance(error, NotFoundError):  # a missing document is a 404 where it is looked up
        return {"status": 503, "error": "the search index is not there (yet); see /readyz"}
    if isinstance(error, AuthenticationException | AuthorizationException):
        # The API's own credentials, not the caller's: say it in the log for the operator,
        # and nothing about them in the answer.
        log.warning("Elasticsearch refused the search API's credentials: %s", error.message)
        return {
            "status": 503,
            "error": "the search index refuses this server's credentials; see its log",
        }
    log.exception("unexpected error", exc_info=error)
    return {"status": 500, "error": "internal error"}
