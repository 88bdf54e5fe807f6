"""docker-compose.yml is valid and runs what the native launcher runs."""

import os
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from imgsim_indexer_check.settings import IndexerCheckSettings
from imgsim_stack.artifacts import pinned_versions
from imgsim_stack.prometheus import COMPOSE_CONFIG, default_prometheus_port
from imgsim_stack.settings import REPO_ROOT
from imgsim_vectorizer.settings import VectorizerSettings

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
    expected |= {"indexer-check", "prometheus", "grafana"}
    assert expected <= set(config["services"])


def test_services_wait_for_healthy_dependencies(config: dict[str, Any]) -> None:
    services = config["services"]
    for name in ("kafka", "elasticsearch", "connect"):
        assert "healthcheck" in services[name], name
    assert services["connect"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services["init"]["depends_on"]["connect"]["condition"] == "service_healthy"
    vectorizer_waits_for = services["vectorizer"]["depends_on"]["init"]["condition"]
    assert vectorizer_waits_for == "service_completed_successfully"
    checker_waits_for = services["indexer-check"]["depends_on"]["init"]["condition"]
    assert checker_waits_for == "service_completed_successfully"
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"
    for name in ("indexer-check", "prometheus", "grafana"):
        assert "healthcheck" in services[name], name
    # The checker's liveness, not the pipeline's state: a stalled leg must not restart it.
    assert any("/healthz" in part for part in services["indexer-check"]["healthcheck"]["test"])


def test_each_service_image_has_its_own_name_and_dependency_set(config: dict[str, Any]) -> None:
    services = config["services"]
    extras = {"init": "", "vectorizer": "vectorizer", "search-api": "search-api"}
    extras["indexer-check"] = "indexer-check"
    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()

    assert "ARG EXTRAS" in dockerfile
    for name, extra in extras.items():
        assert services[name]["build"]["args"]["EXTRAS"] == extra, name
        assert extra == "" or extra in declared["optional-dependencies"], name
    images = [services[name]["image"] for name in extras]
    assert len(set(images)) == len(images), images


def test_observability_ports_are_published_on_loopback_only(config: dict[str, Any]) -> None:
    for name in ("indexer-check", "prometheus", "grafana"):
        ports = config["services"][name]["ports"]
        assert ports, name
        assert {port["host_ip"] for port in ports} == {"127.0.0.1"}, name


def _listening_port(name: str, service: dict[str, Any]) -> int:
    """The port a service serves /metrics on, from its own configuration in the file."""
    environment = service.get("environment") or {}
    if name == "vectorizer":
        return int(environment.get("VECTORIZER_METRICS_PORT", VectorizerSettings().metrics_port))
    if name == "indexer-check":
        return int(environment.get("INDEXER_CHECK_PORT", IndexerCheckSettings().port))
    if name == "search-api":
        command = service["command"]
        return int(command[command.index("--port") + 1])
    assert name == "prometheus", f"{name} is scraped but not known to this test"
    return default_prometheus_port()  # the prom/prometheus image's own


def test_every_scrape_target_is_a_compose_service_on_its_port(config: dict[str, Any]) -> None:
    services = config["services"]
    scraped = yaml.safe_load(COMPOSE_CONFIG.read_text())["scrape_configs"]
    targets = []
    for job in scraped:
        for sd in job.get("dns_sd_configs", []):
            targets += [(host, int(sd["port"])) for host in sd["names"]]
        for static in job.get("static_configs", []):
            targets += [(t.rsplit(":", 1)[0], int(t.rsplit(":", 1)[1])) for t in static["targets"]]

    assert {host for host, _ in targets} == {"vectorizer", "search-api", "indexer-check"} | {
        "prometheus"
    }
    for host, port in targets:
        assert host in services, f"{host} is scraped but is not a compose service"
        service = services[host]
        assert _listening_port(host, service) == port, host
        opened = {int(p) for p in service.get("expose", [])}
        opened |= {int(p["target"]) for p in service.get("ports", [])}
        assert port in opened, f"{host} does not expose {port}"


def test_prometheus_and_grafana_mount_the_repositorys_provisioning(
    config: dict[str, Any],
) -> None:
    services = config["services"]

    def mounts(name: str) -> dict[str, Path]:
        return {
            v["target"]: Path(v["source"]) for v in services[name]["volumes"] if v["type"] == "bind"
        }

    assert mounts("prometheus") == {"/etc/prometheus/prometheus.yml": COMPOSE_CONFIG}
    grafana = mounts("grafana")
    assert grafana["/etc/grafana/provisioning"] == REPO_ROOT / "infra" / "grafana" / "provisioning"
    providers = yaml.safe_load(
        (grafana["/etc/grafana/provisioning"] / "dashboards" / "imgsim.yml").read_text()
    )["providers"]
    (dashboards,) = {provider["options"]["path"] for provider in providers}
    assert grafana[dashboards] == REPO_ROOT / "infra" / "grafana" / "dashboards"
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(dashboards + "/")
    assert (grafana[dashboards] / home.removeprefix(dashboards + "/")).is_file()


def test_compose_runs_the_versions_the_native_launcher_runs(config: dict[str, Any]) -> None:
    versions = pinned_versions()
    services = config["services"]

    assert services["kafka"]["image"] == f"apache/kafka:{versions.kafka}"
    assert services["connect"]["build"]["args"]["KAFKA_VERSION"] == versions.kafka
    assert services["elasticsearch"]["image"].endswith(f"elasticsearch:{versions.elasticsearch}")


def test_connect_image_builds_the_same_connector_sources() -> None:
    dockerfile = Path(REPO_ROOT / "infra" / "connector" / "Dockerfile").read_text()

    assert "COPY infra/connector/src/main /src" in dockerfile
    assert "/opt/imgsim/connect-plugins" in dockerfile
