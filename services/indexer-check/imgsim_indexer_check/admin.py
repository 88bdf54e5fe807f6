"""Who may ask the checker service to change what Kafka and the index hold.

Its actions (POST /reconcile, /repair, /retry-dead-letters) re-publish records, produce vector
records again and delete documents: they answer only a caller that sends the administration
token (`INDEXER_CHECK_ADMIN_TOKEN` or `_FILE`) as `Authorization: Bearer <token>`. Without a token
configured they are refused (403) rather than open to whoever reaches the port: a loopback-only
rule would not hold behind a proxy or inside a container network, where every caller looks
local. `imgsim check --reconcile/--repair/--retry-dead-letters` runs the same actions in its own
process, with the checker's settings, and needs no token.
"""

import hmac
import logging
from collections.abc import Awaitable, Callable

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

log = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Response]]

SWITCHED_OFF = (
    "the checker's actions are switched off: set INDEXER_CHECK_ADMIN_TOKEN (or "
    "INDEXER_CHECK_ADMIN_TOKEN_FILE, a file that holds it) and send it as "
    "`Authorization: Bearer <token>`; or run them with `imgsim check --reconcile`, `--repair` "
    "or `--retry-dead-letters`"
)
REALM = 'Bearer realm="imgsim-indexer-check"'


def refusal(request: Request, token: SecretStr | None) -> Response | None:
    """None when the request carries the token; else the answer that refuses it."""
    if token is None:
        return JSONResponse({"error": SWITCHED_OFF}, 403)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and matches(given.strip(), token):
        return None
    client = request.client.host if request.client else "?"
    log.warning(
        "refused %s %s from %s: no or wrong token", request.method, request.url.path, client
    )
    # RFC 6750: a token that was sent and is wrong is an invalid_token; none sent, the realm alone.
    challenge = f'{REALM}, error="invalid_token"' if given else REALM
    return JSONResponse(
        {"error": "this action needs the checker's administration token as a Bearer token"},
        401,
        headers={"WWW-Authenticate": challenge},
    )


def matches(given: str, token: SecretStr) -> bool:
    # In constant time: how long a wrong token took to refuse says nothing about the right one.
    return hmac.compare_digest(given.encode(), token.get_secret_value().encode())


def guarded(handler: Handler, token: Callable[[Request], SecretStr | None]) -> Handler:
    """`handler`, answered only when the request carries the token `token(request)` gives."""

    async def guard(request: Request) -> Response:
        refused = refusal(request, token(request))
        return refused if refused is not None else await handler(request)

    return guard
