"""The sink plugin's build: its dependency pin, its digest, its manifests, its converter."""

import os
import shutil
from pathlib import Path

import pytest
from imgsim_stack import artifacts
from imgsim_stack.artifacts import Installation, pom_property
from imgsim_stack.components import Connect
from imgsim_stack.errors import StackError
from imgsim_stack.provision import PAINTING_CONVERTER, connector_config
from imgsim_stack.settings import CONNECTOR_POM, CONNECTOR_SOURCES, REPO_ROOT, StackSettings

DOCKERFILE = REPO_ROOT / "infra" / "connector" / "Dockerfile"


def _installation(tmp_path: Path, jackson: str) -> Installation:
    libs = tmp_path / "libs"
    libs.mkdir()
    for artifact in ("jackson-core", "jackson-databind", "jackson-annotations"):
        (libs / f"{artifact}-{jackson}.jar").touch()
    return Installation(libs, tmp_path / "elasticsearch", tmp_path / "plugin")


def test_the_connector_reads_values_with_the_painting_converter_and_keys_as_strings() -> None:
    config = connector_config(StackSettings())

    assert config["value.converter"] == PAINTING_CONVERTER
    assert config["key.converter"] == "org.apache.kafka.connect.storage.StringConverter"
    assert config["value.converter.schemas.enable"] == "false"


def test_a_changed_dependency_pin_makes_a_new_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pom = tmp_path / "pom.xml"
    shutil.copy(CONNECTOR_POM, pom)
    monkeypatch.setattr(artifacts, "CONNECTOR_POM", pom)
    before = artifacts.connector_digest()

    pom.write_text(pom.read_text().replace("<jackson.version>", "<jackson.version>9"))

    assert artifacts.connector_digest() != before


def test_the_build_accepts_the_jackson_kafka_ships(tmp_path: Path) -> None:
    wanted = pom_property(CONNECTOR_POM, "jackson.version")

    artifacts.check_jackson(_installation(tmp_path, wanted))


def test_the_build_refuses_a_jackson_pin_kafka_does_not_ship(tmp_path: Path) -> None:
    with pytest.raises(StackError, match=r"jackson-core-2\.0\.0\.jar"):
        artifacts.check_jackson(_installation(tmp_path, "2.0.0"))


SERVICES = CONNECTOR_SOURCES / "resources" / "META-INF" / "services"


@pytest.mark.parametrize("manifest", sorted(SERVICES.iterdir()), ids=lambda p: p.name)
def test_every_plugin_in_a_service_manifest_has_its_source(manifest: Path) -> None:
    # Connect finds converters, connectors and transforms through these files
    # (plugin.discovery=service_load); a name without a class hides the plugin.
    for name in manifest.read_text().split():
        assert (CONNECTOR_SOURCES / "java" / (name.replace(".", "/") + ".java")).exists(), name


def test_the_converter_is_in_a_service_manifest() -> None:
    names = (SERVICES / "org.apache.kafka.connect.storage.Converter").read_text().split()

    assert PAINTING_CONVERTER in names


def test_the_image_resolves_the_same_dependencies_into_one_plugin_directory() -> None:
    dockerfile = DOCKERFILE.read_text()

    assert "COPY infra/connector/pom.xml" in dockerfile
    assert "--strict-checksums" in dockerfile
    assert "/opt/imgsim/connect-plugins/imgsim-elasticsearch-sink" in dockerfile
    assert "/dependencies/*" in dockerfile


def test_a_worker_started_on_another_plugin_build_is_found_out(tmp_path: Path) -> None:
    settings = StackSettings(state_dir=tmp_path / "state", cache_dir=tmp_path / "cache")
    connect = Connect(settings, artifacts.installation(settings))
    # "Running": the pid file names this very process, with its start time.
    start_time = Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()[19]
    connect.process.pidfile.parent.mkdir(parents=True)
    connect.process.pidfile.write_text(f"{os.getpid()} {start_time}\n")
    connect.home.mkdir(parents=True)
    properties = connect.home / "connect-distributed.properties"
    properties.write_text("plugin.path=/cache/connect-plugins/imgsim-elasticsearch-sink-0\n")

    assert connect.runs_an_older_plugin()
    connect.prepare()  # what a restart writes: the installed build's plugin path
    assert not connect.runs_an_older_plugin()
