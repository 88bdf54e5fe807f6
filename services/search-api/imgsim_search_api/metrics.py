"""Request counts and latency by route, and paintings whose file could not be served; at
/metrics."""

import time

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter(
    "imgsim_search_api_requests_total", "Requests by route and status.", ["route", "status"]
)
LATENCY = Histogram(
    "imgsim_search_api_request_seconds",
    "Time to the response's headers, by route.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
# A painting in the index whose file under the image root cannot be served (the gallery shows a
# placeholder instead); the reasons are the dead-letter reasons ingestion gives for such files.
IMAGE_MISSES = Counter(
    "imgsim_search_api_image_misses_total",
    "Image and thumbnail requests for a painting whose file is missing or unreadable, by reason.",
    ["reason"],
)


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                LATENCY.labels(_route_template(scope)).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            REQUESTS.labels(_route_template(scope), str(status)).inc()


def _route_template(scope: Scope) -> str:
    # The template of the route the router chose, not the path: a label per painting id
    # would grow without bound.
    return str(getattr(scope.get("route"), "path", "other"))


async def metrics_endpoint(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
