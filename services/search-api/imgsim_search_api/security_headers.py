"""The headers every response of the API and the gallery carries, and CORS when configured.

The gallery is plain files from this origin (`/static`): its scripts, styles, thumbnails and
`fetch` calls all stay on it, so the policy allows this origin alone, no inline script or style
(the gallery sets styles through the CSSOM, which a policy does not govern), no plugins, and no
framing (clickjacking). A pure ASGI middleware: it rewrites the start of each response and passes
the body through as it comes, so NDJSON and SSE streams keep streaming.

CORS is off unless `SEARCH_API_CORS_ORIGINS` names origins: a browser page from elsewhere cannot
read the API's answers by default.
"""

from typing import Final

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    )
)
HEADERS: Final = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)


class SecurityHeaders:
    """Adds `HEADERS` to every HTTP response, replacing any of the same name a route set."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                ours = {name for name, _ in HEADERS}
                kept = [(k, v) for k, v in message.get("headers", ()) if k.lower() not in ours]
                message = {**message, "headers": [*kept, *HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def cors_origins(setting: str) -> list[str]:
    """`SEARCH_API_CORS_ORIGINS`, a comma list, as origins (empty: none)."""
    return [origin.strip().rstrip("/") for origin in setting.split(",") if origin.strip()]


def middleware(cors: str) -> list[Middleware]:
    """The security headers outermost, so that even a CORS preflight's answer carries them; CORS
    only when origins are configured."""
    stack = [Middleware(SecurityHeaders)]
    origins = cors_origins(cors)
    if origins:
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=origins,
                allow_methods=["GET", "POST"],
                allow_headers=["Accept", "Content-Type"],
                # The gallery's way of waiting out a 429 or a 503 is Retry-After.
                expose_headers=["Retry-After"],
                max_age=600,
            )
        )
    return stack
