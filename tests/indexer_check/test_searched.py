"""The checker checks the pipeline the alias points at: a model version's after a swap."""

import asyncio
from typing import Any

import httpx
import pytest
from imgsim_common import names
from imgsim_indexer_check import searched
from imgsim_indexer_check.evaluator import State
from imgsim_indexer_check.legs import legs

from tests.indexer_check.fakes import Components, checker, settings

VERSION = "f79c19a7734a"
MODEL_INDEX = f"paintings-model-{VERSION}"


def test_the_index_behind_an_alias_is_its_write_index_or_its_only_one() -> None:
    one: dict[str, Any] = {"paintings-v1": {"aliases": {"paintings": {}}}}
    two: dict[str, Any] = {
        "paintings-v1": {"aliases": {"paintings": {}}},
        MODEL_INDEX: {"aliases": {"paintings": {"is_write_index": True}}},
    }
    unclear: dict[str, Any] = {
        "a": {"aliases": {"paintings": {}}},
        "b": {"aliases": {"paintings": {}}},
    }

    assert searched.behind(one, "paintings") == "paintings-v1"
    assert searched.behind(two, "paintings") == MODEL_INDEX
    assert searched.behind(unclear, "paintings") is None
    assert searched.behind({}, "paintings") is None


def test_a_model_versions_index_aims_the_checker_at_that_versions_pipeline() -> None:
    configured = settings()

    aimed = searched.aimed(configured, MODEL_INDEX)

    pipeline = names.model_pipeline(VERSION)
    assert aimed.paintings_topic == pipeline.topic
    assert aimed.connector == pipeline.connector
    assert aimed.vectorizer_group == pipeline.consumer_group
    assert aimed.sink_dead_letter_topic == pipeline.sink_dead_letter_topic
    assert aimed.sink_group == f"connect-{pipeline.connector}"
    # What is searched is still reported (and reconciled) through the alias.
    assert aimed.alias == names.PAINTINGS_ALIAS
    assert aimed.image_paths_topic == configured.image_paths_topic


@pytest.mark.parametrize("index", ["paintings-v1", "paintings-v2", "my-own-index", None])
def test_any_other_index_leaves_the_configured_names(index: str | None) -> None:
    configured = settings()

    assert searched.aimed(configured, index) == configured


def test_a_named_version_or_following_switched_off_is_never_moved() -> None:
    named = settings(model_version="abc")
    unfollowed = settings(follow_alias=False)
    pinned = settings().for_pipeline(names.model_pipeline("abc"))

    assert searched.aimed(named, MODEL_INDEX) == named
    assert searched.aimed(unfollowed, MODEL_INDEX) == unfollowed
    assert searched.aimed(pinned, MODEL_INDEX) == pinned


def test_the_checker_follows_a_swap_and_a_rollback_at_its_next_poll() -> None:
    components = Components()
    made, reader, _ = checker(components)

    async def run() -> list[list[str]]:
        seen = []
        await made.poll()
        seen.append(sorted(reader.reads))
        reader.reads.clear()
        components.alias_index = MODEL_INDEX  # the swap moves the alias
        report = await made.poll()
        assert [leg.topic for leg in report.legs] == ["image-paths", MODEL_INDEX]
        assert [leg.state for leg in report.legs] == [State.OK, State.OK]
        seen.append(sorted(reader.reads))
        reader.reads.clear()
        components.alias_index = "paintings-v1"  # rolled back
        await made.poll()
        seen.append(sorted(reader.reads))
        await made.aclose()
        return seen

    before, swapped, rolled_back = asyncio.run(run())

    assert before == ["image-paths", "paintings"]
    assert swapped == ["image-paths", MODEL_INDEX]
    assert rolled_back == ["image-paths", "paintings"]


def test_a_move_forgets_the_other_pipelines_window_and_reconciliation() -> None:
    components = Components()
    made, _, _ = checker(components)

    async def run() -> None:
        await made.poll()
        await made.poll()
        assert all(len(h.positions) == 2 for h in made.histories.values())
        components.alias_index = MODEL_INDEX
        await made.poll()
        assert all(len(h.positions) == 1 for h in made.histories.values())
        assert made.reconciliation is None
        await made.aclose()

    asyncio.run(run())


def test_elasticsearch_away_keeps_the_pipeline_it_checks() -> None:
    components = Components(alias_index=MODEL_INDEX)
    made, _, _ = checker(components)

    async def run() -> tuple[str, str]:
        await made.poll()
        components.down.add("elasticsearch")
        report = await made.poll()
        assert report.component("elasticsearch").state is State.ERR
        return made.settings.paintings_topic, made.configured.paintings_topic

    checked, configured = asyncio.run(run())

    assert (checked, configured) == (MODEL_INDEX, "paintings")


def test_a_model_versions_stopped_leg_1_names_the_worker_to_start() -> None:
    base = legs(settings())[0]
    followed = legs(searched.aimed(settings(), MODEL_INDEX))[0]

    assert "VECTORIZER_CONSUMER_GROUP=imgsim-vectorizer?" in base.stop_hint
    assert f"model version {VERSION}" in followed.stop_hint
    assert "VECTORIZER_MODEL_PATH=" in followed.stop_hint
    assert f"imgsim-vectorizer-{VERSION}" in followed.stop_hint


def test_an_alias_answer_that_is_not_elasticsearch_s_keeps_the_pipeline_it_checks() -> None:
    components = Components(alias_index=MODEL_INDEX)
    made, _, _ = checker(components)

    async def run() -> str:
        await made.poll()
        garbled = httpx.MockTransport(lambda request: httpx.Response(200, content=b"<html>"))
        made.http = httpx.AsyncClient(transport=garbled)
        await made.poll()
        await made.aclose()
        return made.settings.paintings_topic

    assert asyncio.run(run()) == MODEL_INDEX
