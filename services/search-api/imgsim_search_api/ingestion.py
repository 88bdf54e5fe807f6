"""Ingestion health: the consistency checker's `/health` and `/history`, relayed for the gallery's
health page (the browser talks to one origin, and the checker binds to 127.0.0.1 by default).

The checker's answer is passed on as it came, status included: its `/health` is 503 while a leg
is stalled or stopped, and that answer is still a report, with a `state`. When the checker cannot
be asked, the answer is a 503 whose `error` says so and which has no `state`: the page tells the
two apart by that.
"""

import httpx
from starlette.responses import Response

from imgsim_search_api.errors import RequestError

# The page asks every few seconds: a checker that has not answered by then is shown as away
# rather than leaving the page on its previous figures.
TIMEOUT_S = 3.0
# What the checker answers on each path relayed; anything else is not the checker.
CHECKER_STATUSES = {"/health": {200, 503}, "/history": {200}}
HINT = (
    "start it with `python -m imgsim_indexer_check` (INDEXER_CHECK_* settings), or set "
    "SEARCH_API_CHECKER_URL to where it runs"
)


def client() -> httpx.AsyncClient:
    """The one client the API asks the checker with (its connections are kept and reused)."""
    return httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False)


def _why(error: httpx.HTTPError) -> str:
    if isinstance(error, httpx.TimeoutException):
        return f"no answer within {TIMEOUT_S:g} s"
    if isinstance(error, httpx.ConnectError):
        return f"cannot connect: {error or 'refused'}"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


async def relay(http: httpx.AsyncClient, checker_url: str, path: str) -> Response:
    if not checker_url:
        raise RequestError(
            404, "no consistency checker is configured here (SEARCH_API_CHECKER_URL is empty)"
        )
    url = f"{checker_url}{path}"
    try:
        answer = await http.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as e:
        raise RequestError(
            503,
            f"the consistency checker at {checker_url} cannot be reached",
            checker=checker_url,
            reason=_why(e),
            hint=HINT,
        ) from None
    media_type = answer.headers.get("content-type", "").split(";")[0].strip()
    if answer.status_code not in CHECKER_STATUSES[path] or media_type != "application/json":
        what = f"{answer.status_code} {answer.reason_phrase}, {media_type or 'no content type'}"
        raise RequestError(
            502,
            f"{url} answered {what}: not the consistency checker's report; is "
            "SEARCH_API_CHECKER_URL the checker's address?",
            checker=checker_url,
        )
    return Response(
        answer.content,
        status_code=answer.status_code,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )
