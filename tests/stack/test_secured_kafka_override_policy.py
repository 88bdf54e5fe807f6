"""Connectors registered before the override policy `None` lose their client overrides on `up`,
and their failed tasks start again (a fake Connect REST API, no stack)."""

import json

import httpx
import pytest
from imgsim_stack import override_policy
from imgsim_stack.errors import StackError
from imgsim_stack.settings import StackSettings

OLD = {
    "connector.class": "io.imgsim.connect.elasticsearch.ElasticsearchSinkConnector",
    "topics": "paintings-model-1",
    "consumer.override.auto.offset.reset": "earliest",
}
CURRENT = {"connector.class": "x", "topics": "paintings"}


class FakeConnect:
    def __init__(self, failures_left: int) -> None:
        self.configs = {"old-sink": dict(OLD), "current-sink": dict(CURRENT)}
        self.failures_left = failures_left
        self.restarts: list[str] = []
        self.puts: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.strip("/").split("/")
        if parts == ["connectors"]:
            return httpx.Response(200, json=list(self.configs))
        name, what = parts[1], parts[2]
        if what == "config" and request.method == "GET":
            return httpx.Response(200, json=self.configs[name])
        if what == "config" and request.method == "PUT":
            self.puts.append(name)
            self.configs[name] = json.loads(request.content)
            return httpx.Response(200, json={})
        if what == "status":
            state = "FAILED" if self.failures_left > 0 else "RUNNING"
            return httpx.Response(200, json={"tasks": [{"id": 0, "state": state}]})
        if what == "restart":
            self.failures_left -= 1
            self.restarts.append(str(request.url.query, "ascii"))
            return httpx.Response(202)
        return httpx.Response(404)


def test_only_overrides_are_dropped_and_failed_tasks_restarted() -> None:
    connect = FakeConnect(failures_left=1)
    reports: list[str] = []

    override_policy.drop_client_overrides(
        StackSettings(), reports.append, transport=httpx.MockTransport(connect)
    )

    assert connect.configs["old-sink"] == {k: v for k, v in OLD.items() if "override" not in k}
    assert connect.puts == ["old-sink"]  # a clean connector is left alone
    assert connect.restarts == ["includeTasks=true&onlyFailed=true"]
    assert reports == [
        "connector old-sink: client overrides removed (consumer.override.auto.offset.reset)"
    ]


def test_a_task_that_keeps_failing_is_reported() -> None:
    connect = FakeConnect(failures_left=1000)

    with pytest.raises(StackError, match="old-sink has FAILED tasks"):
        override_policy.drop_client_overrides(
            StackSettings(), print, timeout_s=0.05, transport=httpx.MockTransport(connect)
        )


def test_without_overrides_keeps_every_other_key() -> None:
    config = {"producer.override.acks": "1", "admin.override.x": "y", "consumer.group": "g"}
    assert override_policy.without_overrides(config) == {"consumer.group": "g"}
