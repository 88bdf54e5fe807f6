"""The scrape configuration: one generator for docker-compose, the native stack and tests."""

import re
from pathlib import Path

import pytest
import yaml
from imgsim_indexer_check.settings import IndexerCheckSettings
from imgsim_stack import cli
from imgsim_stack.artifacts import installation
from imgsim_stack.components import Component
from imgsim_stack.prometheus import (
    COMPOSE_CONFIG,
    SEARCH_API_PORT,
    Prometheus,
    ScrapeJob,
    compose_jobs,
    native_jobs,
    scrape_config,
)
from imgsim_stack.settings import REPO_ROOT, StackSettings
from imgsim_vectorizer.settings import VectorizerSettings
from pydantic import ValidationError


def test_the_compose_config_is_the_generated_one() -> None:
    assert COMPOSE_CONFIG.read_text() == scrape_config(compose_jobs()), (
        "regenerate: python -m imgsim_stack.prometheus > infra/prometheus/prometheus.yml"
    )


def test_native_targets_are_the_services_default_ports_on_the_stacks_host() -> None:
    settings = StackSettings(prometheus_port=9191)

    config = yaml.safe_load(scrape_config(native_jobs(settings)))

    targets = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]
    }
    assert targets == {
        "vectorizer": [f"127.0.0.1:{VectorizerSettings().metrics_port}"],
        "search-api": [f"127.0.0.1:{SEARCH_API_PORT}"],
        "indexer-check": [f"127.0.0.1:{IndexerCheckSettings().port}"],
        "prometheus": ["127.0.0.1:9191"],
    }


def test_make_api_serves_on_the_port_prometheus_scrapes() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    api = re.search(r"^api:.*\n\t(.+)$", makefile, re.MULTILINE)

    assert api is not None and f"--port {SEARCH_API_PORT}" in api[1]


@pytest.mark.parametrize(("interval", "timeout"), [("1s", "1s"), ("500ms", "500ms"), ("1m", "10s")])
def test_the_scrape_timeout_never_exceeds_the_interval(interval: str, timeout: str) -> None:
    config = yaml.safe_load(scrape_config([ScrapeJob("x", ["h"], 1)], interval))

    assert config["global"] == {
        "scrape_interval": interval,
        "evaluation_interval": interval,
        "scrape_timeout": timeout,
    }


def test_a_bad_interval_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        scrape_config([ScrapeJob("x", ["h"], 1)], "15 seconds")


def test_prometheus_may_not_take_another_components_port() -> None:
    with pytest.raises(ValidationError, match="ports must differ"):
        StackSettings(prometheus_port=9092)
    assert StackSettings(prometheus_port=0).prometheus_port == 0  # 0: not started


def test_up_skips_prometheus_with_a_note_when_it_is_not_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    settings = StackSettings(state_dir=tmp_path)
    notes: list[str] = []
    monkeypatch.setattr(cli, "report", notes.append)
    started: list[Component] = []

    cli._launch_prometheus(cli.observability(settings), started)

    assert started == [] and not (tmp_path / "run" / "prometheus.pid").exists()
    assert notes == ["prometheus is not installed, not started (apt-get install prometheus)"]


def test_the_native_command_keeps_data_and_listener_where_the_settings_say(
    tmp_path: Path,
) -> None:
    settings = StackSettings(state_dir=tmp_path, prometheus_port=9191)
    prometheus = Prometheus(settings, installation(settings))
    if prometheus.binary is None:
        pytest.skip("prometheus is not installed")

    prometheus.prepare()

    command = prometheus.command()
    assert f"--storage.tsdb.path={tmp_path / 'prometheus' / 'data'}" in command
    assert "--web.listen-address=127.0.0.1:9191" in command
    written = (tmp_path / "prometheus" / "prometheus.yml").read_text()
    assert written == scrape_config(native_jobs(settings))
