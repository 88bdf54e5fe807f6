"""The search API as the evaluation asks it: over HTTP, as any client would, never around it.

Every call takes a slot of one semaphore, so that many queries run at once without flooding the
API (it runs one knn search per representation of each query).
"""

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

# GET /paintings pages at most this many paintings.
PAGE_SIZE = 100
VECTORS_PARAMETER = "vectors"


class SearchApiError(Exception):
    """An answer the evaluation cannot use: its HTTP status (200 for an answer of the wrong
    shape), or None when the API could not be reached; the API's `reason` (or the transport
    error's name) and its `Retry-After` when it gave them."""

    def __init__(
        self,
        status: int | None,
        message: str,
        reason: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.retry_after_s = retry_after_s

    @property
    def kind(self) -> str:
        """What went wrong, without the particulars (counts, ids) that vary from one to the
        next, so that failures can be counted by kind."""
        if self.status is None:
            return f"no answer: {self.reason or self.message[:80]}"
        return (
            f"{self.status} {self.reason}" if self.reason else f"{self.status}: {self.message[:80]}"
        )


@dataclass(frozen=True)
class RepresentationInfo:
    name: str
    dims: int
    source: str | None  # "trained", "backbone" or "pixels" when the API says so
    metrics: tuple[str, ...]  # those the index maps it for


# The representations searched by each metric (an index may map a representation for one only).
Searched = Mapping[str, Sequence[str]]


def searched(representations: Sequence[RepresentationInfo], metrics: Sequence[str]) -> Searched:
    found = {m: [r.name for r in representations if m in r.metrics] for m in metrics}
    return {m: names for m, names in found.items() if names}


# Neighbour ids, nearest first, per representation.
Rankings = dict[str, list[str]]


def _error(response: httpx.Response) -> SearchApiError:
    retry_after = response.headers.get("Retry-After", "")
    wait = float(retry_after) if retry_after.strip().isdigit() else None
    try:
        body = response.json()
    except ValueError:
        text = response.text[:200] or response.reason_phrase
        return SearchApiError(response.status_code, text, retry_after_s=wait)
    error = body.get("error") if isinstance(body, dict) else None
    reason = body.get("reason") if isinstance(body, dict) else None
    return SearchApiError(
        response.status_code,
        error if isinstance(error, str) else str(body)[:200],
        reason if isinstance(reason, str) else None,
        wait,
    )


def _rankings(body: Any) -> Rankings:
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        raise SearchApiError(200, f"the API answered without results: {str(body)[:200]}")
    try:
        return {
            str(block["representation"]): [str(hit["id"]) for hit in block["hits"]]
            for block in results
        }
    except (KeyError, TypeError) as e:
        raise SearchApiError(200, f"a result block without {e}: {str(body)[:200]}") from None


class SearchApi:
    def __init__(self, client: httpx.AsyncClient, concurrency: int) -> None:
        self.client = client
        self.concurrency = concurrency
        self.slots = asyncio.Semaphore(concurrency)

    async def _request(self, method: str, url: str, **kwargs: Any) -> Any:
        async with self.slots:
            try:
                response = await self.client.request(method, url, **kwargs)
            except httpx.TransportError as e:
                name = type(e).__name__
                raise SearchApiError(None, f"{name}: {e}", reason=name) from e
        if response.status_code != 200:
            raise _error(response)
        try:
            return response.json()
        except ValueError as e:
            raise SearchApiError(200, f"{url} did not answer JSON: {e}") from e

    async def representations(self) -> tuple[list[RepresentationInfo], list[str]]:
        body = await self._request("GET", "/representations")
        try:
            metrics = [str(m) for m in body["metrics"]]
            listed = [
                RepresentationInfo(
                    str(r["name"]),
                    int(r["dims"]),
                    r.get("source"),
                    tuple(str(m) for m in r.get("metrics", metrics)),
                )
                for r in body["representations"]
            ]
            return listed, metrics
        except (KeyError, TypeError, ValueError) as e:
            raise SearchApiError(200, f"/representations is not what the API serves: {e}") from e

    async def indexed_ids(self, advance: Callable[[], None] = lambda: None) -> set[str]:
        """Every painting id in the index, page by page (GET /paintings pages on the id)."""
        ids: set[str] = set()
        after: str | None = None
        while True:
            params = {"size": str(PAGE_SIZE)} | ({"after": after} if after else {})
            body = await self._request("GET", "/paintings", params=params)
            try:
                ids.update(str(p["id"]) for p in body["paintings"])
                after = body.get("next")
                advance()
            except (KeyError, TypeError, AttributeError) as e:
                raise SearchApiError(200, f"/paintings is not what the API serves: {e}") from e
            if not after:
                return ids

    async def painting_vectors(self, painting_id: str) -> dict[str, Any] | None:
        """The painting's vectors (GET /paintings/{id}?vectors=true) as the API gives them, per
        representation a vector or a vector per metric; None when the API leaves them out."""
        body = await self._request(
            "GET", f"/paintings/{quote(painting_id, safe='/')}", params={VECTORS_PARAMETER: "true"}
        )
        vectors = body.get(VECTORS_PARAMETER) if isinstance(body, dict) else None
        return vectors if isinstance(vectors, dict) and vectors else None

    async def similar(
        self, painting_id: str, representations: Sequence[str], metric: str, k: int
    ) -> Rankings:
        """The neighbours of an indexed painting, one ranking per representation, in one query
        (the API searches the representations concurrently)."""
        params = {"representation": ",".join(representations), "metric": metric, "k": str(k)}
        body = await self._request(
            "GET",
            f"/similar/{quote(painting_id, safe='/')}",
            params=params,
            headers={"Accept": "application/json"},
        )
        return _rankings(body)

    async def similar_to_upload(
        self, image: bytes, representations: Sequence[str], metric: str, k: int
    ) -> Rankings:
        params = {"representation": ",".join(representations), "metric": metric, "k": str(k)}
        files: Mapping[str, tuple[str, bytes, str]] = {"image": ("query.jpg", image, "image/jpeg")}
        body = await self._request(
            "POST",
            "/similar/upload",
            params=params,
            files=files,
            headers={"Accept": "application/json"},
        )
        return _rankings(body)
