"""The state of Connect, the sink connector and its tasks, Elasticsearch and the index.

A component that fails, is paused or cannot be reached is ERR; one on its way (tasks being
assigned, replicas missing) is WARN. Every check answers a report, never raises.
"""

import asyncio
from typing import Any

import httpx

from imgsim_indexer_check.evaluator import State
from imgsim_indexer_check.report import ComponentReport, ConnectorTask

TRACE_CHARS = 400


class Unexpected(Exception):
    """An answer that is not what the component's API documents."""


async def _get(http: httpx.AsyncClient, url: str) -> tuple[int, Any]:
    response = await http.get(url)
    try:
        body = response.json()
    except ValueError as e:
        raise Unexpected(f"{url} answered {response.status_code} with no JSON") from e
    return response.status_code, body


def _unreachable(name: str, url: str, error: Exception) -> ComponentReport:
    if isinstance(error, httpx.TimeoutException):
        why = "did not answer in time"
    elif isinstance(error, httpx.TransportError):
        why = f"cannot be reached ({type(error).__name__}: {error or 'connection failed'})"
    else:
        why = f"answered unexpectedly ({error})"
    return ComponentReport(
        name=name, state=State.ERR, reason=f"{url} {why}", url=url, reachable=False
    )


def trace_summary(trace: str) -> str:
    """The exception's first line and its deepest cause: what a person reads first."""
    lines = [line.strip() for line in trace.strip().splitlines() if line.strip()]
    causes = [line for line in lines if line.startswith("Caused by:")]
    parts = lines[:1] + causes[-1:]
    return " ... ".join(parts)[:TRACE_CHARS]


def connector_report(url: str, name: str, status: dict[str, Any]) -> ComponentReport:
    connector = status["connector"]
    tasks = [
        ConnectorTask(
            id=int(task["id"]),
            state=str(task["state"]),
            worker_id=str(task.get("worker_id", "")),
            trace=task.get("trace"),
        )
        for task in status.get("tasks", [])
    ]
    state_of_connector = str(connector["state"])
    base = f"{url}/connectors/{name}"
    failed = [t for t in tasks if t.state == "FAILED"]
    if state_of_connector == "FAILED" or failed:
        what = (
            f"the connector FAILED: {trace_summary(str(connector.get('trace', '')))}"
            if state_of_connector == "FAILED"
            else "; ".join(
                f"task {t.id} FAILED on {t.worker_id}: {trace_summary(t.trace or '')}"
                for t in failed
            )
        )
        state, reason = (
            State.ERR,
            f"{what}; once the cause is fixed: curl -X POST "
            f"'{base}/restart?includeTasks=true&onlyFailed=true'",
        )
    elif state_of_connector in ("PAUSED", "STOPPED"):
        state, reason = (
            State.ERR,
            f"the connector is {state_of_connector}: records wait on the topic until "
            f"curl -X PUT {base}/resume",
        )
    elif not tasks:
        state, reason = State.WARN, f"the connector is {state_of_connector} with no task yet"
    elif any(t.state != "RUNNING" for t in tasks) or state_of_connector != "RUNNING":
        states = ", ".join(f"task {t.id} {t.state}" for t in tasks)
        state, reason = State.WARN, f"connector {state_of_connector}, {states}: being (re)assigned"
    else:
        state, reason = State.OK, f"RUNNING with {len(tasks)} task(s), all RUNNING"
    return ComponentReport(
        name="connector",
        state=state,
        reason=reason,
        url=base,
        connector_state=state_of_connector,
        tasks=tasks,
    )


async def check_connect(
    http: httpx.AsyncClient, url: str, connector: str
) -> tuple[ComponentReport, ComponentReport]:
    """The Connect worker's reachability and version, and the connector with its tasks."""
    try:
        code, root = await _get(http, f"{url}/")
        if code != 200:
            raise Unexpected(f"GET / answered {code}")
        worker = ComponentReport(
            name="connect",
            state=State.OK,
            reason="reachable",
            url=url,
            version=str(root.get("version")),
        )
    except (httpx.HTTPError, Unexpected) as e:
        down = _unreachable("connect", url, e)
        unknown = ComponentReport(
            name="connector",
            state=State.ERR,
            reason=f"state unknown: Connect at {url} cannot be asked",
            url=f"{url}/connectors/{connector}",
        )
        return down, unknown
    try:
        code, status = await _get(http, f"{url}/connectors/{connector}/status")
        if code == 404:
            return worker, ComponentReport(
                name="connector",
                state=State.ERR,
                reason=f"{connector} is not registered on {url} (`make provision` registers it)",
                url=f"{url}/connectors/{connector}",
            )
        if code != 200:
            raise Unexpected(f"the connector's status answered {code}: {status}")
        return worker, connector_report(url, connector, status)
    except (httpx.HTTPError, Unexpected, KeyError, TypeError, ValueError) as e:
        return worker, _unreachable("connector", f"{url}/connectors/{connector}", e)


HEALTH_ORDER = ("green", "yellow", "red")


def cluster_report(url: str, health: dict[str, Any], indices: list[str]) -> ComponentReport:
    """Judged on the alias's indices: an unrelated index that is red or lacks replicas does
    not stop ingestion (it makes a red cluster a WARN here). Without the alias, on the
    cluster's status."""
    cluster = str(health["status"])
    per_index = {name: str(i["status"]) for name, i in health.get("indices", {}).items()}
    ours = [per_index.get(name, "red") for name in indices]
    status = max(ours, key=HEALTH_ORDER.index) if ours else cluster
    whose = f"index {', '.join(indices)}" if indices else f"cluster {health.get('cluster_name')}"
    if status == "red":
        state = State.ERR
        reason = f"{whose} is red: a primary shard is unassigned, so writes and searches on it fail"
    elif status == "yellow":
        state = State.WARN
        reason = f"{whose} is yellow: replica shards unassigned (on one node, set replicas to 0)"
    else:
        state, reason = State.OK, f"{whose} is green ({health.get('number_of_nodes')} node(s))"
    if cluster != status:
        reason += f"; the cluster is {cluster} because of other indices"
        if cluster == "red":
            state = State.WARN
    return ComponentReport(
        name="elasticsearch", state=state, reason=reason, url=url, cluster_status=cluster
    )


async def check_index(http: httpx.AsyncClient, url: str, alias: str) -> ComponentReport:
    code, aliases = await _get(http, f"{url}/_alias/{alias}")
    if code == 404:
        return ComponentReport(
            name="index",
            state=State.ERR,
            reason=f"alias {alias} does not exist: the sink retries its writes until it does "
            "(`make provision` creates it)",
            url=url,
            alias=alias,
        )
    if code != 200:
        raise Unexpected(f"GET _alias/{alias} answered {code}")
    indices = sorted(aliases)
    write = [i for i in indices if aliases[i]["aliases"][alias].get("is_write_index")]
    code, counted = await _get(http, f"{url}/{alias}/_count")
    if code != 200:
        raise Unexpected(f"GET {alias}/_count answered {code}")
    documents = int(counted["count"])
    return ComponentReport(
        name="index",
        state=State.OK,
        reason=f"alias {alias} -> {', '.join(indices)}: {documents:,} documents",
        url=url,
        alias=alias,
        indices=indices,
        write_index=write[0] if write else (indices[0] if len(indices) == 1 else None),
        documents=documents,
    )


async def check_elasticsearch(
    http: httpx.AsyncClient, url: str, alias: str
) -> tuple[ComponentReport, ComponentReport]:
    """Health of the alias's indices and the cluster's, the alias with its concrete index(es)
    and its document count."""
    try:
        # Every index's status in one answer; only the fields read below.
        fields = "cluster_name,status,number_of_nodes,indices.*.status"
        code, health = await _get(http, f"{url}/_cluster/health?level=indices&filter_path={fields}")
        if code not in (200, 408):  # 408: health not reached within its own timeout
            raise Unexpected(f"_cluster/health answered {code}")
        str(health["status"])
    except (httpx.HTTPError, Unexpected, KeyError, TypeError) as e:
        down = _unreachable("elasticsearch", url, e)
        unknown = ComponentReport(
            name="index",
            state=State.ERR,
            reason=f"unknown: Elasticsearch at {url} cannot be asked",
            url=url,
            alias=alias,
        )
        return down, unknown
    try:
        index = await check_index(http, url, alias)
    except (httpx.HTTPError, Unexpected, KeyError, TypeError, ValueError) as e:
        index = _unreachable("index", url, e)
    return cluster_report(url, health, index.indices or []), index


async def check_components(
    http: httpx.AsyncClient, connect_url: str, connector: str, elasticsearch_url: str, alias: str
) -> list[ComponentReport]:
    connect, elasticsearch = await asyncio.gather(
        check_connect(http, connect_url, connector),
        check_elasticsearch(http, elasticsearch_url, alias),
    )
    return [*connect, *elasticsearch]
