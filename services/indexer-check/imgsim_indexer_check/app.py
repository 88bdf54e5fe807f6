"""The checker service: a loop that polls on an interval, another that reconciles on a slower
one, `/health`, `/healthz`, `/history`, `/metrics`, and the actions `/reconcile`, `/repair` and
`/retry-dead-letters`.

`/health` answers the latest report, 200 for OK and WARN, 503 for REWIND, STALL, STOP and ERR.
`/healthz` says only whether the checker itself works (its loop polled recently): for a
container's health check, which should not restart the checker when Kafka is away.
The actions change what Kafka and the index hold: they answer POST only, and only a caller with
the administration token (admin.py); the service binds to 127.0.0.1 unless told otherwise.
"""

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from imgsim_indexer_check import admin
from imgsim_indexer_check.checker import Checker
from imgsim_indexer_check.metrics import CONTENT_TYPE, CheckerMetrics
from imgsim_indexer_check.reconcile import Reconciliation
from imgsim_indexer_check.reconciler import Reconciler, RepairResult
from imgsim_indexer_check.report import Report
from imgsim_indexer_check.settings import IndexerCheckSettings

log = logging.getLogger(__name__)

HISTORY_S = 600


class Service:
    """The checker, its metrics and the loop that keeps them fresh."""

    def __init__(self, settings: IndexerCheckSettings, checker: Checker | None = None) -> None:
        self.settings = settings
        self.checker = checker or Checker(settings)
        self.metrics = CheckerMetrics()
        self.report: Report | None = None
        self.polled_at = time.monotonic()
        # Aimed where the checker is: a swap moves both (searched.py).
        self.reconciler = Reconciler(self.checker.settings)
        self.aimed = self.checker.settings
        # One reconciliation at a time: two would read and repair the same records twice.
        self.reconciling = asyncio.Lock()
        self.reconcile_error: str | None = None
        # Figures of the last HISTORY_S seconds of polls, for the gallery's small charts.
        self.history: deque[dict[str, Any]] = deque(
            maxlen=max(1, int(HISTORY_S / settings.poll_interval_s))
        )

    async def poll(self) -> None:
        try:
            report = await self.checker.poll()
        except Exception:
            # A bug, not an unreachable component (those are reports): count it, keep going.
            log.exception("a poll failed")
            self.metrics.failed_poll()
            return
        self.report, self.polled_at = report, time.monotonic()
        if self.checker.settings != self.aimed:
            async with self.reconciling:  # not under an action that uses the old one
                self.reconciler.close()
                self.aimed = self.checker.settings
                self.reconciler = Reconciler(self.aimed)
        self.metrics.observe(report)
        self.history.append(
            {
                "t": round(report.checked_at.timestamp(), 3),
                "state": report.state.value,
                "legs": {
                    str(leg.leg): {
                        "state": leg.state.value,
                        "lag": leg.lag,
                        "rate": leg.ingest_rate,
                    }
                    for leg in report.legs
                },
            }
        )

    async def reconcile(self) -> Reconciliation:
        async with self.reconciling:
            try:
                result = await asyncio.to_thread(self.reconciler.reconcile)
            except Exception as e:
                self.reconcile_error = f"{type(e).__name__}: {e}"
                raise
            self.reconcile_error = None
            self.observe_reconciliation(result)
            return result

    def observe_reconciliation(self, result: Reconciliation) -> None:
        self.checker.reconciliation = result
        self.metrics.observe_reconciliation(
            result,
            self.settings.alias,
            self.settings.image_paths_topic,
            self.settings.dead_letter_topic,
        )

    async def reconcile_forever(self) -> None:
        interval = self.settings.reconcile_interval_s
        while True:
            try:
                await self.reconcile()
            except Exception:  # noqa: BLE001 - a component away: the polls say which; retry
                log.warning("reconciliation failed: %s", self.reconcile_error)
            await asyncio.sleep(interval)

    async def run(self) -> None:
        """Polls every interval, after the poll made at start-up, for ever."""
        interval = self.settings.poll_interval_s
        delay = interval
        while True:
            await asyncio.sleep(delay)
            started = time.monotonic()
            await self.poll()
            delay = max(0.0, interval - (time.monotonic() - started))

    @property
    def stuck(self) -> bool:
        # Several intervals and the request timeouts of a poll that waits on each of them.
        allowed = 3 * self.settings.poll_interval_s + 5 * self.settings.request_timeout_s
        return time.monotonic() - self.polled_at > allowed


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def health(request: Request) -> Response:
    report = _service(request).report
    if report is None:
        return JSONResponse({"state": "ERR", "reason": "no poll has finished yet"}, 503)
    return Response(
        report.model_dump_json(), status_code=report.http_status, media_type="application/json"
    )


async def healthz(request: Request) -> Response:
    service = _service(request)
    if service.stuck:
        return JSONResponse({"checker": "no poll has finished for too long"}, 503)
    return JSONResponse({"checker": "polling"})


async def history(request: Request) -> Response:
    return JSONResponse(
        {
            "interval_s": _service(request).settings.poll_interval_s,
            "points": list(_service(request).history),
        }
    )


def _flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value in ("true", "1")


async def _action(request: Request, run: Any) -> Response:
    service = _service(request)
    try:
        result = await run(service)
    except ValueError as e:
        return JSONResponse({"error": str(e)}, 400)
    except Exception as e:  # noqa: BLE001 - Kafka or Elasticsearch away: say so, keep serving
        log.warning("%s failed: %r", request.url.path, e)
        return JSONResponse(
            {"error": f"{type(e).__name__}: {e}"}, 503, headers={"Retry-After": "10"}
        )
    return Response(result.model_dump_json(), media_type="application/json")


async def reconcile_now(request: Request) -> Response:
    async def run(service: Service) -> Reconciliation:
        return await service.reconcile()

    return await _action(request, run)


async def repair_now(request: Request) -> Response:
    async def run(service: Service) -> RepairResult:
        delete_extra, dry_run = _flag(request, "delete_extra"), _flag(request, "dry_run")
        async with service.reconciling:
            result = await asyncio.to_thread(service.reconciler.repair, delete_extra, dry_run)
        service.observe_reconciliation(result.reconciliation)
        return result

    return await _action(request, run)


async def retry_dead_letters(request: Request) -> Response:
    async def run(service: Service) -> RepairResult:
        reason, dry_run = request.query_params.get("reason"), _flag(request, "dry_run")
        async with service.reconciling:
            return await asyncio.to_thread(service.reconciler.retry_dead_letters, reason, dry_run)

    return await _action(request, run)


def _admin(handler: admin.Handler) -> admin.Handler:
    return admin.guarded(handler, lambda request: _service(request).settings.admin_token)


async def metrics(request: Request) -> Response:
    return Response(_service(request).metrics.exposition(), media_type=CONTENT_TYPE)


def create_app(
    settings: IndexerCheckSettings | None = None, checker: Checker | None = None
) -> Starlette:
    settings = settings or IndexerCheckSettings()
    service = Service(settings, checker)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # One poll before serving, so that /health always has a report (a component that is
        # away costs at most its timeout here).
        await service.poll()
        loops = [asyncio.create_task(service.run())]
        if settings.reconcile_interval_s > 0:
            loops.append(asyncio.create_task(service.reconcile_forever()))
        try:
            yield
        finally:
            for loop in loops:
                loop.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loop
            await service.checker.aclose()
            service.reconciler.close()

    app = Starlette(
        routes=[
            Route("/health", health),
            Route("/healthz", healthz),
            Route("/history", history),
            Route("/metrics", metrics),
            Route("/reconcile", _admin(reconcile_now), methods=["POST"]),
            Route("/repair", _admin(repair_now), methods=["POST"]),
            Route("/retry-dead-letters", _admin(retry_dead_letters), methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    app.state.service = service
    return app


def serve(settings: IndexerCheckSettings | None = None) -> None:
    settings = settings or IndexerCheckSettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
