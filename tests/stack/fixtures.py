"""The real stack for the integration tier: reused when it runs, started (and stopped) when not."""

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import httpx
import pytest
from confluent_kafka import Producer
from elasticsearch import Elasticsearch
from imgsim_common import names
from imgsim_stack import cli, provision
from imgsim_stack.settings import StackSettings

T = TypeVar("T")


def stack_ready(
    settings: StackSettings, auth: Callable[[], httpx.Auth | tuple[str, str] | None] = lambda: None
) -> bool:
    """Every component healthy and the sink connector RUNNING. `auth` gives Connect's login; it
    is read inside the check because a stack not yet provisioned has none."""
    if not all(component.healthy() for component in cli.components(settings)):
        return False
    try:
        with httpx.Client(timeout=5, auth=auth()) as http:
            url = f"{settings.connect}/connectors/{names.SINK_CONNECTOR}"
            provision.wait_connector_running(http, url, timeout_s=1)
    except Exception:  # noqa: BLE001 - anything short of RUNNING means "start or provision"
        return False
    return True


@contextlib.contextmanager
def stack_beside(settings: StackSettings, ready: bool) -> Iterator[None]:
    """A stack beside the plain one (secured, faults) for the session: reused when `ready`,
    else started, and then stopped at the end unless its processes ran before or
    IMGSIM_TEST_KEEP_STACK is set."""
    started_here = False
    if not ready:
        started_here = not any(c.process.alive() for c in cli.components(settings))
        cli.up(settings)
    yield
    if started_here and not os.environ.get("IMGSIM_TEST_KEEP_STACK"):
        cli.down(settings)


@pytest.fixture(scope="session")
def stack() -> Iterator[StackSettings]:
    settings = StackSettings()
    started_here = False
    if not stack_ready(settings):
        started_here = not any(c.healthy() for c in cli.components(settings))
        cli.up(settings)
    yield settings
    if started_here and not os.environ.get("IMGSIM_TEST_KEEP_STACK"):
        cli.down(settings)


@pytest.fixture(scope="session")
def es(stack: StackSettings) -> Iterator[Elasticsearch]:
    client = Elasticsearch(stack.elasticsearch, request_timeout=30)
    yield client
    client.close()


@pytest.fixture(scope="session")
def producer(stack: StackSettings) -> Iterator[Producer]:
    producer = Producer({"bootstrap.servers": stack.bootstrap_servers, "acks": "all"})
    yield producer
    producer.flush(10)


@pytest.fixture
def run_tag() -> str:
    """Unique per test: ids and the `metadata.source` of its documents carry it."""
    return f"test-{uuid.uuid4().hex[:12]}"
