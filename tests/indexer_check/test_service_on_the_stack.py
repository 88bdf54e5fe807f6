"""The checker service and `imgsim check` against the real stack: /health's HTTP codes, ERR while
a component cannot be reached and recovery without a restart, /metrics through promtool, and
the command's exit codes."""

import asyncio
import json
import re
import subprocess
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from imgsim_cli import child_argv
from imgsim_indexer_check.app import create_app
from imgsim_indexer_check.checker import Checker
from imgsim_indexer_check.evaluator import State

from tests.indexer_check.fixtures import CheckRig
from tests.search_api.forwarder import Forwarder
from tests.support import eventually, free_port, promtool_check, serving

pytestmark = pytest.mark.integration


def health_until(
    client: httpx.Client, wanted: Callable[[int, dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        response = client.get("/health")
        body: dict[str, Any] = response.json()
        return body if wanted(response.status_code, body) else None

    return eventually(check, 30, what)


def component(body: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in body["components"] if c["name"] == name)


def test_unreachable_components_are_err_and_the_service_recovers_by_itself(
    check_rig: CheckRig,
) -> None:
    elasticsearch = Forwarder(check_rig.stack.elasticsearch)
    connect = Forwarder(check_rig.stack.connect)
    elasticsearch.on()
    connect.on()
    settings = check_rig.settings(elasticsearch_url=elasticsearch.url, connect_url=connect.url)

    with serving(create_app(settings)) as url, httpx.Client(base_url=url, timeout=10) as client:
        ok = health_until(client, lambda code, body: code == 200, "/health 200")
        assert ok["state"] == "OK"
        assert component(ok, "index")["documents"] == 0

        elasticsearch.off()
        down = health_until(client, lambda code, body: code == 503, "/health 503, ES away")
        assert down["state"] == "ERR"
        assert component(down, "elasticsearch")["reason"].startswith(
            f"{elasticsearch.url} cannot be reached"
        )
        assert component(down, "index")["state"] == "ERR"
        assert component(down, "connector")["state"] == "OK"
        # The loop goes on: new reports, and the checker itself says it works.
        first = down["checked_at"]
        health_until(client, lambda code, body: body["checked_at"] != first, "a newer report")
        assert client.get("/healthz").status_code == 200
        metrics = client.get("/metrics").text
        errors = re.search(r'poll_errors_total\{component="elasticsearch"\} (\S+)', metrics)
        assert errors is not None and float(errors[1]) >= 1

        elasticsearch.on()
        health_until(client, lambda code, body: code == 200, "/health 200, ES back")

        connect.off()
        down = health_until(client, lambda code, body: code == 503, "/health 503, Connect away")
        assert component(down, "connect")["reason"].startswith(f"{connect.url} cannot be reached")
        assert component(down, "connector")["reason"] == (
            f"state unknown: Connect at {connect.url} cannot be asked"
        )
        assert component(down, "elasticsearch")["state"] == "OK"

        connect.on()
        back = health_until(client, lambda code, body: code == 200, "/health 200, Connect back")
        assert back["state"] == "OK"

        promtool_check(client.get("/metrics").content)


def test_kafka_unreachable_is_err_within_the_request_timeout(check_rig: CheckRig) -> None:
    closed = f"127.0.0.1:{free_port()}"
    checker = Checker(check_rig.settings(kafka_bootstrap_servers=closed, request_timeout_s=1.0))

    async def poll() -> Any:
        try:
            return await checker.poll()
        finally:
            await checker.aclose()

    started = time.monotonic()
    report = asyncio.run(poll())

    assert time.monotonic() - started < 10
    assert report.state is State.ERR
    kafka = report.component("kafka")
    assert kafka.state is State.ERR and not kafka.reachable
    assert kafka.reason.startswith(f"{closed} cannot be reached")
    assert all(leg.state is State.ERR for leg in report.legs)


def imgsim_check(check_rig: CheckRig, *argv: str) -> subprocess.CompletedProcess[str]:
    # Wide enough that no reason is folded in the table.
    env = {**check_rig.environment(check_rig.settings()), "PATH": "/usr/bin:/bin", "COLUMNS": "400"}
    return subprocess.run(
        child_argv("check", *argv), env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_imgsim_check_exit_codes_follow_the_state(check_rig: CheckRig) -> None:
    healthy = imgsim_check(check_rig, "--json")
    assert healthy.returncode == 0, healthy.stderr
    report = json.loads(healthy.stdout)
    assert report["state"] == "OK"

    check_rig.publish(7)  # nobody consumes them: leg 1 has lag and no member
    started = time.monotonic()
    stopped = imgsim_check(check_rig, "--sample-seconds", "6", "--poll-interval", "0.5")
    assert stopped.returncode == 5, stopped.stdout + stopped.stderr  # STOP
    assert time.monotonic() - started >= 6  # it sampled before judging, and says so
    assert re.search(r"judged over 6 s of samples \(1[12345] polls\)", stopped.stdout)
    assert "overall STOP" in stopped.stdout
    assert "no member in consumer group" in stopped.stdout

    watched = imgsim_check(check_rig, "--watch", "--polls", "9")  # the rig's 6-sample window
    assert watched.returncode == 5, watched.stdout + watched.stderr
    assert "overall STOP" in watched.stdout
