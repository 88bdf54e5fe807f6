"""The launcher's failures: a clear message naming the component, a non-zero exit, and no
process of a half-started stack left behind."""

import os
import re
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from imgsim_stack.processes import port_in_use
from imgsim_stack.settings import REPO_ROOT

pytestmark = pytest.mark.integration


def _free_ports(count: int) -> list[int]:
    """Distinct free ports: all sockets stay bound until every port is chosen."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture
def isolated_env() -> Iterator[dict[str, str]]:
    """A second stack's settings: its own state directory and free ports."""
    state = REPO_ROOT / ".stack" / "fault-tests" / uuid.uuid4().hex[:8]
    kafka, controller, connect, elasticsearch, transport = _free_ports(5)
    env = {
        **os.environ,
        "IMGSIM_STACK_STATE_DIR": str(state),
        "IMGSIM_STACK_KAFKA_PORT": str(kafka),
        "IMGSIM_STACK_KAFKA_CONTROLLER_PORT": str(controller),
        "IMGSIM_STACK_CONNECT_PORT": str(connect),
        "IMGSIM_STACK_ELASTICSEARCH_PORT": str(elasticsearch),
        "IMGSIM_STACK_ELASTICSEARCH_TRANSPORT_PORT": str(transport),
        "IMGSIM_STACK_ELASTICSEARCH_HEAP": "256m",
        "IMGSIM_STACK_KAFKA_HEAP": "256m",
    }
    yield env
    subprocess.run([sys.executable, "-m", "imgsim_stack.cli", "down"], env=env, check=False)
    shutil.rmtree(state, ignore_errors=True)


def _up(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imgsim_stack.cli", "up"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _nothing_left_running(env: dict[str, str]) -> None:
    run_dir = Path(env["IMGSIM_STACK_STATE_DIR"]) / "run"
    assert not list(run_dir.glob("*.pid")) if run_dir.exists() else True
    for setting in (
        "IMGSIM_STACK_ELASTICSEARCH_PORT",
        "IMGSIM_STACK_KAFKA_PORT",
        "IMGSIM_STACK_CONNECT_PORT",
    ):
        assert not port_in_use("127.0.0.1", int(env[setting])), f"{setting} still taken"
    state = env["IMGSIM_STACK_STATE_DIR"]
    leftovers = subprocess.run(["pgrep", "-f", state], capture_output=True, text=True).stdout
    assert leftovers.strip() == ""


def test_missing_java_is_named(isolated_env: dict[str, str]) -> None:
    isolated_env["IMGSIM_STACK_JAVA_HOME"] = "/nonexistent/jdk"

    result = _up(isolated_env)

    assert result.returncode == 1
    assert "java: Java 17 or newer is required" in result.stderr
    _nothing_left_running(isolated_env)


def test_failed_download_names_the_fetch_and_its_log(
    isolated_env: dict[str, str], tmp_path: Path
) -> None:
    settings_xml = tmp_path / "settings.xml"
    settings_xml.write_text(
        "<settings><mirrors><mirror><id>dead</id><mirrorOf>*</mirrorOf>"
        "<url>http://127.0.0.1:9/maven2</url></mirror></mirrors></settings>"
    )
    isolated_env["IMGSIM_STACK_CACHE_DIR"] = str(tmp_path / "cache")
    isolated_env["IMGSIM_STACK_MAVEN_SETTINGS"] = str(settings_xml)

    result = _up(isolated_env)

    assert result.returncode == 1
    assert "fetch: downloading the pinned artifacts from Maven Central failed" in result.stderr
    log = Path(isolated_env["IMGSIM_STACK_STATE_DIR"]) / "logs" / "fetch.log"
    assert str(log) in result.stderr and log.exists()
    assert not (tmp_path / "cache" / "kafka-4.1.1" / "libs").exists()
    _nothing_left_running(isolated_env)


def test_port_in_use_names_the_component_and_stops_what_was_started(
    isolated_env: dict[str, str],
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(isolated_env["IMGSIM_STACK_KAFKA_PORT"])))
        squatter.listen()

        result = _up(isolated_env)

    assert result.returncode == 1
    port = isolated_env["IMGSIM_STACK_KAFKA_PORT"]
    assert f"kafka: port {port} is already in use" in result.stderr
    assert "IMGSIM_STACK_KAFKA_PORT" in result.stderr
    # Elasticsearch had been started before the clash was found, and was stopped again.
    assert "stopped elasticsearch after the failure" in result.stderr
    _nothing_left_running(isolated_env)


def test_component_that_does_not_become_healthy_is_named_with_its_log(
    isolated_env: dict[str, str],
) -> None:
    isolated_env["IMGSIM_STACK_HEALTH_TIMEOUT_S"] = "2"

    result = _up(isolated_env)

    assert result.returncode == 1
    # Kafka is waited for first (Connect needs it); neither is healthy within 2 s.
    match = re.search(r"(\w+): did not become healthy within 2 s \(read (\S+)\)", result.stderr)
    assert match is not None, result.stderr
    component, log = match.groups()
    assert log == str(Path(isolated_env["IMGSIM_STACK_STATE_DIR"]) / "logs" / f"{component}.log")
    assert "stopped elasticsearch after the failure" in result.stderr
    _nothing_left_running(isolated_env)
