"""The answer to an error no handler expected: the API's JSON error with a 500, inside the
security headers' middleware so that it carries them, rather than Starlette's plain-text
"Internal Server Error" from outside every middleware. Logged with its trace; the client learns
nothing about it but that it happened."""

import logging

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)


class LastResort:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            if started:  # a stream cut short: nothing can be said any more but by closing it
                raise
            log.exception("unexpected error answering %s %s", scope["method"], scope["path"])
            await JSONResponse({"error": "internal error"}, status_code=500)(scope, receive, send)
