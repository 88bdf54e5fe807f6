"""docker-compose.yml is valid and runs what the native launcher runs."""

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from imgsim_stack.artifacts import pinned_versions
from imgsim_stack.components import render_properties, worker_properties
from imgsim_stack.settings import REPO_ROOT

pytestmark = pytest.mark.integration

COMPOSE = REPO_ROOT / "docker-compose.yml"


def _compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    if not _compose_available():
        if os.environ.get("IMGSIM_REQUIRE_COMPOSE"):
            pytest.fail("`docker compose` is required here (IMGSIM_REQUIRE_COMPOSE is set)")
        pytest.skip("the docker client with the compose plugin is not installed")
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--format", "yaml"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = yaml.safe_load(result.stdout)
    return loaded


def test_compose_file_validates_with_every_component(config: dict[str, Any]) -> None:
    expected = {"kafka", "connect", "elasticsearch", "init", "vectorizer", "search-api"}
    assert expected <= set(config["services"])


def test_services_wait_for_healthy_dependencies(config: dict[str, Any]) -> None:
    services = config["services"]
    for name in ("kafka", "elasticsearch", "connect"):
        assert "healthcheck" in services[name], name
    assert services["connect"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services["init"]["depends_on"]["connect"]["condition"] == "service_healthy"
    vectorizer_waits_for = services["vectorizer"]["depends_on"]["init"]["condition"]
    assert vectorizer_waits_for == "service_completed_successfully"


def test_compose_runs_the_versions_the_native_launcher_runs(config: dict[str, Any]) -> None:
    versions = pinned_versions()
    services = config["services"]

    assert services["kafka"]["image"] == f"apache/kafka:{versions.kafka}"
    assert services["connect"]["build"]["args"]["KAFKA_VERSION"] == versions.kafka
    assert services["elasticsearch"]["image"].endswith(f"elasticsearch:{versions.elasticsearch}")


def test_connect_worker_config_in_docker_is_the_launchers() -> None:
    committed = (REPO_ROOT / "infra" / "connect" / "connect-distributed.properties").read_text()
    expected = render_properties(
        worker_properties(
            "kafka:9092", "http://0.0.0.0:8083", "connect", "/opt/imgsim/connect-plugins"
        )
    )

    body = "".join(line + "\n" for line in committed.splitlines() if not line.startswith("#"))
    assert body == expected, "regenerate infra/connect/connect-distributed.properties"


def test_connect_image_builds_the_same_connector_sources() -> None:
    dockerfile = Path(REPO_ROOT / "infra" / "connector" / "Dockerfile").read_text()

    assert "COPY infra/connector/src/main /src" in dockerfile
    assert "/opt/imgsim/connect-plugins" in dockerfile
