"""What the index holds, kept no older than a few seconds: an alias swap is followed without a
restart, Elasticsearch is asked once per period, and a failed attempt keeps the last answer."""

import asyncio
from typing import Any

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import ConnectionError, NotFoundError
from imgsim_common import mapping
from imgsim_search_api.errors import RequestError
from imgsim_search_api.index_watch import IndexWatch

from tests.search_api.fixtures import IndexStandIn, card


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Switchable(IndexStandIn):
    """An index that can be swapped for another, or become unreachable or missing."""

    def __init__(self) -> None:
        super().__init__(versions={"1": ("base", 3)})
        self.failure: Exception | None = None
        self.delay_s = 0.0

    async def get_mapping(self, index: str) -> dict[str, Any]:
        await asyncio.sleep(self.delay_s)
        if self.failure is not None:
            self.asked += 1
            raise self.failure
        return await super().get_mapping(index)

    def swap(self) -> None:
        self.name = "paintings-model-2"
        self.mappings = mapping.model_index(card("2", ("trained_style", 8)))["mappings"]


def watch(stand_in: Switchable, clock: Clock) -> IndexWatch:
    client: Any = stand_in
    return IndexWatch(client, "paintings", max_age_s=5, clock=clock)


def not_found() -> NotFoundError:
    meta = ApiResponseMeta(404, "1.1", HttpHeaders(), 0.0, NodeConfig("http", "es", 9200))
    return NotFoundError("index_not_found_exception", meta, {})


def test_an_answer_serves_until_it_is_too_old_then_a_swap_is_followed() -> None:
    stand_in, clock = Switchable(), Clock()
    watched = watch(stand_in, clock)

    first = asyncio.run(watched.current())
    stand_in.swap()
    clock.now += 4.9
    still = asyncio.run(watched.current())
    clock.now += 0.2
    after = asyncio.run(watched.current())

    assert first.index == still.index == "paintings-v1" and stand_in.asked == 2
    assert after.index == "paintings-model-2" and after.model_from == "card"
    assert "trained_style" in [r.name for r in after.representations]


def test_a_failed_attempt_keeps_the_last_answer_says_why_and_waits_a_period() -> None:
    stand_in, clock = Switchable(), Clock()
    watched = watch(stand_in, clock)
    known = asyncio.run(watched.current())

    stand_in.failure = ConnectionError("connection refused")
    clock.now += 6
    during = [asyncio.run(watched.current()) for _ in range(3)]
    asked_while_away = stand_in.asked
    stand_in.failure = None
    clock.now += 6
    back = asyncio.run(watched.current())

    assert during == [known] * 3
    assert asked_while_away == 2  # once before, once while away: not on every request
    assert back == known and watched.problem is None


def test_with_nothing_learned_a_failure_is_the_request_s() -> None:
    stand_in, clock = Switchable(), Clock()
    watched = watch(stand_in, clock)

    stand_in.failure = not_found()
    with pytest.raises(NotFoundError):
        asyncio.run(watched.current())
    assert watched.problem == "no index or alias 'paintings' (yet)"

    # Not an index of paintings: a 503 that says why.
    stand_in.failure = None
    del stand_in.mappings["properties"]["vectors"]
    clock.now += 6
    with pytest.raises(RequestError, match="maps no vectors") as refused:
        asyncio.run(watched.current())
    assert refused.value.status == 503


def test_concurrent_requests_wait_for_one_answer() -> None:
    stand_in, clock = Switchable(), Clock()
    stand_in.delay_s = 0.05
    watched = watch(stand_in, clock)

    async def many() -> set[str]:
        known = await asyncio.gather(*(watched.current() for _ in range(20)))
        return {k.index for k in known}

    assert asyncio.run(many()) == {"paintings-v1"}
    assert stand_in.asked == 1


def test_forgetting_makes_the_next_request_ask_again() -> None:
    stand_in, clock = Switchable(), Clock()
    watched = watch(stand_in, clock)
    asyncio.run(watched.current())
    stand_in.swap()

    watched.forget()

    assert asyncio.run(watched.current()).index == "paintings-model-2"
