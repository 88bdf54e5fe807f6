"""Keeps what the index behind the alias holds (`index_model.IndexModel`) no older than a few
seconds, so that moving the alias to another model's index is followed without a restart.

Learned lazily: the request that finds the answer older than `max_age_s` asks Elasticsearch again
(two small requests), and concurrent requests wait for that one answer rather than each asking.
A failed attempt keeps the last answer (a search may still work on it) and says why in `problem`;
with no answer yet, the request fails as Elasticsearch failed it, or with a 503 that says why the
index cannot be searched.
"""

import asyncio
import logging
import time
from collections.abc import Callable

from elasticsearch import ApiError, AsyncElasticsearch, NotFoundError, TransportError

from imgsim_search_api.errors import RequestError
from imgsim_search_api.index_model import IndexModel, IndexNotUnderstood, learn

log = logging.getLogger(__name__)


class IndexWatch:
    def __init__(
        self,
        es: AsyncElasticsearch,
        alias: str,
        max_age_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.es, self.alias, self.max_age_s, self.clock = es, alias, max_age_s, clock
        self.known: IndexModel | None = None
        # Why the last attempt failed; None when it succeeded.
        self.problem: str | None = None
        self._asked_at: float | None = None
        self._lock: asyncio.Lock | None = None

    def _fresh(self) -> bool:
        return self._asked_at is not None and self.clock() - self._asked_at < self.max_age_s

    def forget(self) -> None:
        """The next request asks again (the index searched is gone, say)."""
        self._asked_at = None

    async def current(self) -> IndexModel:
        if self._fresh() and self.known is not None:
            return self.known
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            if not self._fresh() or self.known is None:
                await self._ask()
        if self.known is None:
            raise self._unknown()
        return self.known

    async def _ask(self) -> None:
        # Counted from the attempt, failed or not: Elasticsearch away is asked again only
        # every `max_age_s`, not on every request.
        self._asked_at = self.clock()
        try:
            learned = await learn(self.es, self.alias)
        except NotFoundError:
            self._failed(f"no index or alias {self.alias!r} (yet)")
            if self.known is None:
                raise
        except (ApiError, TransportError) as e:
            self._failed(f"Elasticsearch did not say what {self.alias!r} holds: {e}")
            if self.known is None:
                raise
        except IndexNotUnderstood as e:
            self._failed(str(e))
        else:
            if self.known is not None and self.known.index != learned.index:
                log.info("the index behind %s is now %s", self.alias, learned.index)
            self.known, self.problem = learned, None

    def _failed(self, problem: str) -> None:
        if problem != self.problem:
            log.warning("what %s holds could not be learned: %s", self.alias, problem)
        self.problem = problem

    def _unknown(self) -> RequestError:
        return RequestError(
            503, f"the index {self.alias!r} cannot be searched: {self.problem}; see /readyz"
        )
