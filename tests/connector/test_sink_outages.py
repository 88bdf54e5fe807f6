"""A component that goes away delays ingestion but loses nothing."""

from functools import partial

import httpx
import pytest
from confluent_kafka import Producer
from elasticsearch import Elasticsearch
from imgsim_common import names
from imgsim_stack import cli
from imgsim_stack.settings import StackSettings

from tests.support import document, eventually, painting, produce

pytestmark = pytest.mark.integration


def _task_states(stack: StackSettings) -> list[str]:
    url = f"{stack.connect}/connectors/{names.SINK_CONNECTOR}/status"
    status = httpx.get(url, timeout=10).json()
    return [status["connector"]["state"], *(task["state"] for task in status["tasks"])]


def test_records_produced_while_elasticsearch_is_down_are_indexed_when_it_is_back(
    stack: StackSettings, es: Elasticsearch, producer: Producer, run_tag: str
) -> None:
    elasticsearch = cli.components(stack)[0]
    if elasticsearch.process.pid() is None:
        pytest.skip("the running Elasticsearch was not started by this launcher")
    keys = [f"{run_tag}/during-outage-{i}.jpg" for i in range(20)]

    assert elasticsearch.process.stop()
    try:
        for key in keys:
            produce(producer, key, painting(key, run_tag))
        # The sink retries instead of failing or dead-lettering the batch.
        eventually(
            lambda: _task_states(stack) == ["RUNNING", "RUNNING"] or None,
            timeout_s=10,
            what="connector RUNNING while Elasticsearch is down",
        )
    finally:
        cli.up(stack)

    for key in keys:
        eventually(partial(document, es, key), timeout_s=120, what=f"{key} indexed")
    assert _task_states(stack) == ["RUNNING", "RUNNING"]
