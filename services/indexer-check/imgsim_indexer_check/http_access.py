"""The checker's one HTTP client, for Connect's REST API and Elasticsearch: each gets its own
credentials (a Connect password must never reach Elasticsearch, nor an API key Connect)."""

from collections.abc import Generator, Mapping

import httpx
from imgsim_common.access import ssl_context

from imgsim_indexer_check.settings import IndexerCheckSettings


class AuthorizationByOrigin(httpx.Auth):
    """Adds the `Authorization` header of whichever configured base URL a request goes to."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self.headers = {_origin(httpx.URL(url)): header for url, header in headers.items()}

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        header = self.headers.get(_origin(request.url))
        if header is not None:
            request.headers["Authorization"] = header
        yield request


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, url.port or default


def client(settings: IndexerCheckSettings) -> httpx.AsyncClient:
    headers = {
        url: header
        for url, header in (
            (settings.connect_url, settings.connect_authorization()),
            (settings.elasticsearch_url, settings.elasticsearch_authorization()),
        )
        if header is not None
    }
    cas = (settings.connect_ca_file, settings.elasticsearch_ca_file)
    if settings.elasticsearch_ca_fingerprint and settings.elasticsearch_ca_file is None:
        settings.elasticsearch_verify()  # raises: this client needs the CA file
    verify = ssl_context(*cas) if any(cas) else True
    return httpx.AsyncClient(
        timeout=settings.request_timeout_s, auth=AuthorizationByOrigin(headers), verify=verify
    )
