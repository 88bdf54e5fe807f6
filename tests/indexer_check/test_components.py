"""Connect, the connector, Elasticsearch and the index, as their HTTP APIs answer."""

import asyncio

import httpx
import pytest
from imgsim_indexer_check.components import check_components, trace_summary
from imgsim_indexer_check.evaluator import State
from imgsim_indexer_check.report import ComponentReport

from tests.indexer_check.fakes import CONNECT, ELASTICSEARCH, Components

TRACE = (
    (
        "org.apache.kafka.connect.errors.ConnectException: Exiting WorkerSinkTask due to "
        "unrecoverable exception."
    )
    + """
\tat org.apache.kafka.connect.runtime.WorkerSinkTask.deliverMessages(WorkerSinkTask.java:636)
Caused by: java.net.ConnectException: Connection refused
\tat java.base/sun.nio.ch.Net.pollConnect(Native Method)
Caused by: java.io.IOException: index [paintings] is read-only
\tat somewhere
"""
)


def check(components: Components) -> dict[str, ComponentReport]:
    async def run() -> list[ComponentReport]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(components)) as http:
            return await check_components(http, CONNECT, "sink", ELASTICSEARCH, "paintings")

    return {report.name: report for report in asyncio.run(run())}


def test_everything_running_and_green_is_ok() -> None:
    reports = check(Components())

    assert {name: r.state for name, r in reports.items()} == {
        "connect": State.OK,
        "connector": State.OK,
        "elasticsearch": State.OK,
        "index": State.OK,
    }
    assert reports["connect"].version == "4.1.1"
    index = reports["index"]
    assert (index.indices, index.write_index, index.documents) == (
        ["paintings-v1"],
        "paintings-v1",
        42,
    )


def test_a_failed_task_is_err_with_its_trace_and_the_restart_command() -> None:
    connector = check(Components(task_states=["RUNNING", "FAILED"], trace=TRACE))["connector"]

    assert connector.state is State.ERR
    assert "task 1 FAILED on w:8083" in connector.reason
    assert "Exiting WorkerSinkTask" in connector.reason
    assert "index [paintings] is read-only" in connector.reason  # the deepest cause
    assert "restart?includeTasks=true&onlyFailed=true" in connector.reason
    assert connector.tasks is not None and connector.tasks[1].trace == TRACE


@pytest.mark.parametrize("state", ["PAUSED", "STOPPED"])
def test_a_paused_or_stopped_connector_is_err_with_the_resume_command(state: str) -> None:
    connector = check(Components(connector_state=state, task_states=["PAUSED"]))["connector"]

    assert connector.state is State.ERR
    assert f"is {state}" in connector.reason
    assert f"curl -X PUT {CONNECT}/connectors/sink/resume" in connector.reason


def test_tasks_being_assigned_are_a_warning() -> None:
    reports = check(Components(task_states=["UNASSIGNED"]))
    assert reports["connector"].state is State.WARN
    assert check(Components(task_states=[]))["connector"].state is State.WARN


def test_an_unregistered_connector_is_err_and_says_how_to_register_it() -> None:
    connector = check(Components(registered=False))["connector"]
    assert connector.state is State.ERR
    assert "not registered" in connector.reason and "make provision" in connector.reason


def test_connect_unreachable_is_err_for_it_and_its_connector() -> None:
    reports = check(Components(down={"connect"}))

    assert reports["connect"].state is State.ERR
    assert not reports["connect"].reachable
    assert f"{CONNECT} cannot be reached" in reports["connect"].reason
    assert reports["connector"].state is State.ERR
    assert reports["elasticsearch"].state is State.OK  # the others are still asked


@pytest.mark.parametrize(
    ("status", "state"), [("green", State.OK), ("yellow", State.WARN), ("red", State.ERR)]
)
def test_the_health_of_the_alias_index_is_elasticsearchs_state(status: str, state: State) -> None:
    cluster = check(Components(index_status=status))["elasticsearch"]
    assert (cluster.state, cluster.cluster_status) == (state, status)
    assert cluster.reason.startswith(f"index paintings-v1 is {status}")


@pytest.mark.parametrize(("status", "state"), [("yellow", State.OK), ("red", State.WARN)])
def test_another_index_makes_the_cluster_worse_but_not_the_pipeline(
    status: str, state: State
) -> None:
    cluster = check(Components(other_index_status=status))["elasticsearch"]
    assert cluster.state is state
    assert cluster.reason == (
        f"index paintings-v1 is green (1 node(s)); the cluster is {status} because of other indices"
    )


def test_without_the_alias_the_cluster_status_counts() -> None:
    reports = check(Components(alias_exists=False, other_index_status="red"))
    assert reports["elasticsearch"].state is State.ERR
    assert reports["elasticsearch"].reason.startswith("cluster test is red")


def test_elasticsearch_unreachable_is_err_for_it_and_the_index() -> None:
    reports = check(Components(down={"elasticsearch"}))
    assert reports["elasticsearch"].state is State.ERR
    assert f"{ELASTICSEARCH} cannot be reached" in reports["elasticsearch"].reason
    assert reports["index"].state is State.ERR
    assert reports["connector"].state is State.OK


def test_a_missing_alias_is_err() -> None:
    index = check(Components(alias_exists=False))["index"]
    assert index.state is State.ERR
    assert "alias paintings does not exist" in index.reason


def test_an_answer_that_is_not_json_is_an_error_not_a_crash() -> None:
    def garbage(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>bad gateway</html>")

    async def run() -> list[ComponentReport]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(garbage)) as http:
            return await check_components(http, CONNECT, "sink", ELASTICSEARCH, "paintings")

    reports = asyncio.run(run())
    assert [r.state for r in reports] == [State.ERR] * 4
    assert "no JSON" in reports[0].reason


def test_trace_summary_keeps_the_first_line_and_the_deepest_cause() -> None:
    assert trace_summary(TRACE) == (
        "org.apache.kafka.connect.errors.ConnectException: Exiting WorkerSinkTask due to "
        "unrecoverable exception. ... Caused by: java.io.IOException: index [paintings] is "
        "read-only"
    )
    assert trace_summary("") == ""
