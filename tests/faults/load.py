"""A bounded concurrent load on the search API, on loopback only: a few clients, each sending
one request after another with a pause between, every answer kept with its time, status and
latency, so a scenario can cut them into phases (before, during, after a fault)."""

import asyncio
import statistics
import threading
import time
from dataclasses import dataclass, field

import httpx

from tests.faults.report import ApiPhase

CONNECTION_ERROR = "connection error"


@dataclass(frozen=True)
class Answer:
    at: float  # monotonic, when the request was sent
    path: str
    status: str  # the HTTP status, or CONNECTION_ERROR
    latency_ms: float
    detail: str = ""  # the start of an error's body

    @property
    def answered_at(self) -> float:
        return self.at + self.latency_ms / 1000


@dataclass
class Load:
    url: str
    paths: list[str]
    clients: int = 4
    pause_s: float = 0.05
    timeout_s: float = 10
    answers: list[Answer] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        assert self.url.startswith("http://127.0.0.1:"), "loopback only"

    def start(self) -> "Load":
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(30)

    async def _run(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=self.timeout_s) as client:
            await asyncio.gather(*(self._client(client, n) for n in range(self.clients)))

    async def _client(self, client: httpx.AsyncClient, number: int) -> None:
        turn = number
        while not self._stopping.is_set():
            path = self.paths[turn % len(self.paths)]
            turn += 1
            sent = time.monotonic()
            detail = ""
            try:
                response = await client.get(path)
                status = str(response.status_code)
                if response.status_code >= 400:
                    detail = response.text[:300]
            except httpx.HTTPError as e:
                status, detail = CONNECTION_ERROR, repr(e)[:300]
            latency_ms = (time.monotonic() - sent) * 1000
            self.answers.append(Answer(sent, path, status, latency_ms, detail))
            await asyncio.sleep(self.pause_s)

    def between(self, start: float, end: float) -> list[Answer]:
        """The answers that came back from `start` to `end` (monotonic): a request in flight
        when a fault begins belongs to the fault."""
        return [a for a in self.answers if start <= a.answered_at < end]

    def first_ok_after(self, moment: float) -> float | None:
        """When (monotonic) the first request sent after `moment` was answered 200."""
        return next(
            (a.answered_at for a in self.answers if a.at >= moment and a.status == "200"), None
        )


def phase(name: str, answers: list[Answer]) -> ApiPhase:
    statuses: dict[str, int] = {}
    for answer in answers:
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
    latencies = sorted(a.latency_ms for a in answers)
    p50 = statistics.median(latencies) if latencies else None
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else None
    return ApiPhase(name, statuses, p50, p95)
