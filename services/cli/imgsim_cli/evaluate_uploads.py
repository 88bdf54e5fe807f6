"""Uploads paced to the search API's bound on uploads at once.

The API reads and vectorizes at most SEARCH_API_MAX_CONCURRENT_UPLOADS uploads at once (2 by
default) and answers any more with 429 and `Retry-After`, closing the connection, so a client
still sending its body may see only the dropped connection. The pacer starts at that default,
tries one more at once after a run of answered uploads (up to the evaluation's concurrency), and
on a refusal drops to one fewer than it had in flight, never to grow past that again: it learns
the bound. A refused or dropped upload is sent again after `Retry-After` (or a growing backoff
for a dropped connection), a bounded number of times; then it counts as failed, by kind.
"""

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final, TypeVar

from imgsim_cli.evaluate_client import SearchApiError

# SEARCH_API_MAX_CONCURRENT_UPLOADS' default: an API left as it ships refuses none.
UPLOADS_AT_FIRST: Final = 2
ATTEMPTS: Final = 6  # per upload, the first included
# A run of answered uploads after which one more at once is tried.
GROW_AFTER: Final = 20
LONGEST_WAIT_S: Final = 30.0
# A dropped connection says no Retry-After; it is most often a 429 the client could not read
# (the API closes the connection while the body is still being sent), so the first wait is the
# API's Retry-After, then it doubles.
FIRST_BACKOFF_S: Final = 1.0

T = TypeVar("T")


def retried(error: SearchApiError) -> bool:
    """The bound's own answers: a 429, or the connection the API closed with it."""
    return error.status in (None, 429)


class UploadPacer:
    def __init__(
        self,
        ceiling: int,
        first: int = UPLOADS_AT_FIRST,
        attempts: int = ATTEMPTS,
        backoff_s: float = FIRST_BACKOFF_S,
    ) -> None:
        self.ceiling = max(1, ceiling)
        self.limit = min(self.ceiling, max(1, first))
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.in_flight = 0
        self.most_at_once = 0
        self.answered_in_a_row = 0
        self.retries: Counter[str] = Counter()  # by kind
        self.changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        """Held while one upload is sent."""
        async with self.changed:
            await self.changed.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1
            self.most_at_once = max(self.most_at_once, self.in_flight)
        try:
            yield
        finally:
            async with self.changed:
                self.in_flight -= 1
                self.changed.notify_all()

    def _refused(self) -> None:
        # The API took at most one fewer than are in flight as it refuses this one (fewer still
        # if someone else uploads meanwhile, which the next refusal will tell).
        self.limit = self.ceiling = max(1, min(self.limit, self.in_flight - 1))
        self.answered_in_a_row = 0

    def _answered(self) -> None:
        self.answered_in_a_row += 1
        if self.answered_in_a_row >= GROW_AFTER and self.limit < self.ceiling:
            self.limit += 1
            self.answered_in_a_row = 0

    def _wait_s(self, error: SearchApiError, attempt: int) -> float:
        if error.retry_after_s is not None:
            return min(error.retry_after_s, LONGEST_WAIT_S)
        return float(min(self.backoff_s * 2 ** (attempt - 1), LONGEST_WAIT_S))

    async def send(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call`'s answer, sent again after a refusal or a dropped connection; its last
        error when every attempt failed."""
        for attempt in range(1, self.attempts + 1):
            async with self._slot():
                try:
                    answer = await call()
                except SearchApiError as e:
                    if not retried(e) or attempt == self.attempts:
                        raise
                    error = e
                    self._refused()
                else:
                    self._answered()
                    return answer
            self.retries[error.kind] += 1
            await asyncio.sleep(self._wait_s(error, attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")
