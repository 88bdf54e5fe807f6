"""The fault suite's own native stack (infra/native/faults-stack.env): its scenarios stop Kafka,
Connect and Elasticsearch, which must never happen to the plain stack the rest of the suite and
the people working here share. Reused when it runs and is provisioned; started once per session
when not, and then stopped at the end (unless IMGSIM_TEST_KEEP_STACK is set).

`Outage` takes one component down and brings it back with the launcher's own stop and start
(imgsim_stack.cli), as `imgsim-stack down` / `up` would."""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from imgsim_stack import cli, credentials
from imgsim_stack.components import Component
from imgsim_stack.settings import REPO_ROOT, StackSettings

from tests.stack.fixtures import stack_beside, stack_ready

# One definition for the Makefile and these tests.
FAULTS_STACK_ENV = REPO_ROOT / "infra" / "native" / "faults-stack.env"
PLAIN_PORTS = {StackSettings.model_fields[f].default for f in ("kafka_port", "connect_port")}


def faults_settings() -> StackSettings:
    """The faults stack's settings (nothing is started)."""
    values: dict[str, Any] = {
        key.removeprefix("IMGSIM_STACK_").lower(): value
        for key, value in credentials.read_client_env(FAULTS_STACK_ENV).items()
    }
    values["state_dir"] = REPO_ROOT / values["state_dir"]
    settings = StackSettings(**values)
    # The whole point of this stack: a scenario that stops a component never reaches the shared one.
    assert settings.kafka_port not in PLAIN_PORTS and settings.connect_port not in PLAIN_PORTS
    assert settings.state_dir != StackSettings().state_dir
    # Not where the system draws ephemeral ports from: any client connection may hold one of
    # those when the stack starts (a CI run found 39200 taken so).
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    for port in (
        settings.kafka_port,
        settings.kafka_controller_port,
        settings.connect_port,
        settings.elasticsearch_port,
        settings.elasticsearch_transport_port,
    ):
        assert not low <= port <= high, f"port {port} is in the ephemeral range {low}-{high}"
    return settings


@pytest.fixture(scope="session")
def faults_stack() -> Iterator[StackSettings]:
    settings = faults_settings()
    with stack_beside(settings, stack_ready(settings)):
        yield settings


@pytest.fixture(scope="session")
def faults_es(faults_stack: StackSettings) -> Iterator[Elasticsearch]:
    # Short requests with retries: Elasticsearch is away on purpose in some scenarios.
    client = Elasticsearch(
        faults_stack.elasticsearch, request_timeout=30, retry_on_timeout=True, max_retries=5
    )
    yield client
    client.close()


class Outage:
    """One component of the faults stack stopped (`begin`) and started again (`end`), each
    moment on the monotonic clock, for the report's times."""

    def __init__(self, settings: StackSettings, name: str) -> None:
        self.settings = settings
        by_name: dict[str, Component] = {c.name: c for c in cli.components(settings)}
        self.component = by_name[name]
        self.began_at: float | None = None
        self.ended_at: float | None = None
        self.healthy_at: float | None = None

    def begin(self) -> None:
        # From the stop's start: the component goes away during it.
        self.began_at = time.monotonic()
        assert self.component.process.stop(), f"{self.component.name} was not running"

    def end(self) -> None:
        """Starts it as `imgsim-stack up` does and waits until it is healthy again."""
        self.ended_at = time.monotonic()
        started: list[Component] = []
        cli._launch(self.component, started)  # noqa: SLF001 - the launcher's own start
        assert started, f"{self.component.name} was still running"
        self.component.process.wait_until(self.component.healthy, self.settings.health_timeout_s)
        self.healthy_at = time.monotonic()

    def ensure_running(self) -> None:
        """After a failed scenario: the component up again for the next one."""
        if not self.component.healthy() and not self.component.process.alive():
            self.end()

    @property
    def down_s(self) -> float:
        assert self.began_at is not None and self.ended_at is not None
        return self.ended_at - self.began_at

    @property
    def restart_s(self) -> float:
        assert self.ended_at is not None and self.healthy_at is not None
        return self.healthy_at - self.ended_at
