"""docker-compose.yml opens nothing by default: what it publishes, Elasticsearch's and Kafka's
security, Connect's REST API and override policy, where secrets come from, and who runs what.

No Docker engine runs here: the file is read as it is written (PyYAML), and checked against the
launcher's own code for the secured mode, which writes the files the containers read.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from imgsim_indexer_check.settings import IndexerCheckSettings
from imgsim_search_api.settings import SearchApiSettings
from imgsim_stack import compose_credentials, compose_kafka, credentials, elasticsearch_security
from imgsim_stack.components import render_properties
from imgsim_stack.compose_credentials import (
    AFTER_PROVISIONING,
    BEFORE_START,
    HAND_OUT_ROOT,
    STATE_DIR,
    compose_settings,
)
from imgsim_stack.elasticsearch_keys import api_key_file
from imgsim_stack.elasticsearch_roles import CHECKER, SEARCH
from imgsim_stack.settings import REPO_ROOT, StackSettings
from imgsim_vectorizer.embedding_server import EmbeddingSettings
from imgsim_vectorizer.settings import VectorizerSettings
from pydantic_settings import BaseSettings

COMPOSE = REPO_ROOT / "docker-compose.yml"
SECURITY = str(STATE_DIR / "security")
# The one service published beyond 127.0.0.1 (Grafana may be, but stays on loopback here).
PUBLIC = {"search-api"}
# Where each container's own volume is mounted (Elasticsearch reads TLS files in its config).
MOUNTED_AT = {"elasticsearch": "/usr/share/elasticsearch/config/certs"}


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return dict(loaded["services"])


def _published(port: str | dict[str, Any]) -> tuple[str, int]:
    """(host address, container port) of a `ports:` entry, short or long syntax."""
    if isinstance(port, dict):
        return str(port.get("host_ip", "0.0.0.0")), int(port["target"])
    match = re.fullmatch(
        r"(?:(?P<ip>\d+\.\d+\.\d+\.\d+):)?(?:(?P<host>\d+):)?(?P<target>\d+)(?:/\w+)?", port
    )
    assert match, f"cannot read the port {port!r}"
    return match["ip"] or "0.0.0.0", int(match["target"])


def _volumes(service: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """Mount target -> (named volume or host path, read-only)."""
    mounts = {}
    for volume in service.get("volumes", []):
        match = re.fullmatch(
            r"(?P<source>\$\{[^}]*\}|[^:]+):(?P<target>[^:]+)(?::(?P<mode>\w+))?", volume
        )
        assert match, f"cannot read the volume {volume!r}"
        mounts[match["target"]] = (match["source"], match["mode"] == "ro")
    return mounts


def test_only_the_search_api_is_published_beyond_loopback(services: dict[str, Any]) -> None:
    published = {
        name: [_published(port) for port in service.get("ports", [])]
        for name, service in services.items()
    }

    for name, ports in published.items():
        beyond = [port for ip, port in ports if ip != "127.0.0.1"]
        if name not in PUBLIC:
            assert beyond == [], f"{name} publishes {beyond} beyond 127.0.0.1"
    assert [ip for ip, _ in published["search-api"]] == ["0.0.0.0"]
    # Loopback, and nothing more: the host's Kafka listener, Elasticsearch, the observability.
    assert ("127.0.0.1", 29092) in published["kafka"]
    assert published["elasticsearch"] == [("127.0.0.1", 9200)]


def test_connect_rest_api_is_not_published_and_asks_for_a_login(
    services: dict[str, Any],
) -> None:
    connect = services["connect"]
    worker = _properties(REPO_ROOT / "infra" / "connect" / "connect-distributed.properties")

    assert "ports" not in connect
    assert worker["listeners"] == "http://0.0.0.0:8083"
    assert worker["rest.extension.classes"].endswith("BasicAuthSecurityRestExtension")
    jaas = connect["environment"]["KAFKA_OPTS"].removeprefix("-Djava.security.auth.login.config=")
    assert jaas == f"{SECURITY}/{compose_credentials.REST_JAAS}"
    assert compose_credentials.REST_JAAS in BEFORE_START["connect"]


def test_connect_lets_no_connector_override_its_clients() -> None:
    worker = _properties(REPO_ROOT / "infra" / "connect" / "connect-distributed.properties")

    assert worker["connector.client.config.override.policy"] == "None"


def _properties(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_connect_worker_config_in_docker_is_the_launchers_secured_one() -> None:
    committed = (REPO_ROOT / "infra" / "connect" / "connect-distributed.properties").read_text()
    expected = render_properties(compose_credentials.connect_worker_properties(compose_settings()))

    body = "".join(line + "\n" for line in committed.splitlines() if not line.startswith("#"))
    assert body == expected, "regenerate infra/connect/connect-distributed.properties"


def test_elasticsearch_runs_with_security_and_tls_as_the_launcher_configures_it(
    services: dict[str, Any],
) -> None:
    environment = services["elasticsearch"]["environment"]
    launcher = dict(line.split(": ", 1) for line in elasticsearch_security.elasticsearch_yml())

    assert environment["xpack.security.enabled"] == "true"
    assert environment["xpack.security.http.ssl.enabled"] == "true"
    for key, value in launcher.items():
        assert environment[key] == value.strip("[]"), key
    password = Path(environment["ELASTIC_PASSWORD_FILE"])
    assert password.parent == Path(MOUNTED_AT["elasticsearch"])
    assert password.name in BEFORE_START["elasticsearch"].values()


def test_clients_reach_elasticsearch_over_https(services: dict[str, Any]) -> None:
    for name in ("search-api", "indexer-check"):
        environment = services[name]["environment"]
        prefix = f"{name.replace('-', '_').upper()}_ELASTICSEARCH_"
        assert environment[f"{prefix}URL"].startswith("https://"), name
        assert f"{prefix}CA_FILE" in environment, name


def test_every_kafka_listener_authenticates(tmp_path: Path) -> None:
    settings = compose_settings().model_copy(update={"state_dir": tmp_path / "stack"})
    compose_credentials.make(settings, lambda _: None, hand_out_root=tmp_path / "hand-out")
    broker = compose_kafka.broker_properties(settings)

    protocol_map = str(broker["listener.security.protocol.map"])
    protocols = dict(entry.split(":") for entry in protocol_map.split(","))
    listeners = str(broker["listeners"]).split(",")
    assert {listener.split(":")[0] for listener in listeners} == set(protocols)
    assert protocols["HOST"] == "SASL_SSL"
    assert broker["inter.broker.listener.name"] in protocols
    assert protocols.pop("CONTROLLER") == "SSL"
    assert broker["listener.name.controller.ssl.client.auth"] == "required"
    assert set(protocols.values()) == {"SASL_SSL"}
    assert broker["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert f"HOST://:{compose_kafka.HOST_PORT}" in listeners
    assert f"HOST://localhost:{compose_kafka.HOST_PORT}" in str(broker["advertised.listeners"])


def test_kafka_starts_on_the_handed_out_configuration(services: dict[str, Any]) -> None:
    kafka = services["kafka"]
    script = kafka["command"][-1]
    mounts = _volumes(kafka)

    assert mounts[SECURITY] == ("kafka-credentials", True)
    assert mounts[compose_kafka.DATA_DIR] == ("kafka-data", False)
    assert f"{compose_kafka.DATA_DIR}/meta.properties" in script
    for file in (compose_kafka.SERVER_PROPERTIES, compose_kafka.FORMAT_ARGUMENTS):
        assert f"{SECURITY}/{file}" in script, file
        assert file in BEFORE_START["kafka"], file
    assert f"kafka-run-class.sh @{SECURITY}/{compose_kafka.FORMAT_ARGUMENTS}" in script
    assert ("127.0.0.1", compose_kafka.HOST_PORT) in [_published(p) for p in kafka["ports"]]
    assert compose_kafka.ADMIN_CLIENT in " ".join(kafka["healthcheck"]["test"])


SECRET_NAME = re.compile(r"(PASSWORD|TOKEN|SECRET|API_KEY|_KEY)$")


def test_no_secret_is_a_value_in_the_compose_file(services: dict[str, Any]) -> None:
    for name, service in services.items():
        environment = service.get("environment") or {}
        for key in environment:
            assert not SECRET_NAME.search(key), f"{name}: {key} holds a secret; use {key}_FILE"
        commands = [service.get("command", []), service.get("healthcheck", {}).get("test", [])]
        text = " ".join(part for command in commands for part in command)
        for leak in ("password=", "--password", " -u ", "--user", "Authorization: Basic"):
            assert leak not in text, f"{name}'s command or health check holds a secret"
    assert "secrets" not in yaml.safe_load(COMPOSE.read_text())


def test_each_secret_file_a_service_names_is_handed_to_it(services: dict[str, Any]) -> None:
    hand_outs = BEFORE_START | AFTER_PROVISIONING
    for name, service in services.items():
        files = [v for k, v in (service.get("environment") or {}).items() if k.endswith("_FILE")]
        if not files:
            continue
        mount = MOUNTED_AT.get(name, SECURITY)
        assert _volumes(service)[mount] == (f"{name}-credentials", True), name
        for file in files:
            assert Path(file).is_relative_to(mount), f"{name}: {file}"
            assert str(Path(file).relative_to(mount)) in hand_outs[name].values(), f"{name}: {file}"


def test_only_the_launchers_one_shots_mount_the_security_directory(
    services: dict[str, Any],
) -> None:
    holders = {
        name
        for name, service in services.items()
        if "security" in [source for source, _ in _volumes(service).values()]
    }

    assert holders == {"credentials", "init"}
    for name in BEFORE_START:
        assert (
            _volumes(services["credentials"])[str(HAND_OUT_ROOT / name)][0] == f"{name}-credentials"
        )
    for name in AFTER_PROVISIONING:
        assert _volumes(services["init"])[str(HAND_OUT_ROOT / name)][0] == f"{name}-credentials"


def test_no_container_starts_before_its_files_are_handed_out(services: dict[str, Any]) -> None:
    def waits_for(name: str, other: str) -> str:
        return str(services[name]["depends_on"][other]["condition"])

    for name in ("elasticsearch", "kafka"):
        assert waits_for(name, "credentials") == "service_completed_successfully", name
    # Connect's files come with Kafka's, and its own folder's sink login from `init`.
    assert waits_for("connect", "kafka") == "service_healthy"
    for name in AFTER_PROVISIONING:
        assert waits_for(name, "init") == "service_completed_successfully", name


def test_services_log_in_as_the_launcher_writes_their_logins(services: dict[str, Any]) -> None:
    """The same lines the native secured stack's client.env holds, for the same users."""
    settings = compose_settings()
    kafka = credentials.kafka_client_env(STATE_DIR, compose_kafka.INTERNAL, settings.connect)
    elasticsearch = {
        "SEARCH_API_ELASTICSEARCH_API_KEY_FILE": str(api_key_file(STATE_DIR, SEARCH)),
        "INDEXER_CHECK_ELASTICSEARCH_API_KEY_FILE": str(api_key_file(STATE_DIR, CHECKER)),
    }
    prefixes = {"vectorizer": "VECTORIZER_", "indexer-check": "INDEXER_CHECK_"}

    for name, prefix in prefixes.items():
        wanted = {k: v for k, v in kafka.items() if k.startswith(prefix)}
        held = services[name]["environment"]
        assert {k: held.get(k) for k in wanted} == wanted, name
    for key, value in elasticsearch.items():
        service = "search-api" if key.startswith("SEARCH_API_") else "indexer-check"
        assert services[service]["environment"][key] == value


def test_the_launchers_settings_are_compose_settings(services: dict[str, Any]) -> None:
    settings = compose_settings()
    for name in ("credentials", "init"):
        environment = services[name]["environment"]
        assert environment["IMGSIM_STACK_SECURITY"] == settings.security
        assert Path(environment["IMGSIM_STACK_STATE_DIR"]) == settings.state_dir
        assert environment["IMGSIM_STACK_KAFKA_BOOTSTRAP"] == settings.bootstrap_servers
        assert environment["IMGSIM_STACK_CONNECT_URL"] == settings.connect
        assert environment["IMGSIM_STACK_ELASTICSEARCH_URL"] == settings.elasticsearch
    assert services["credentials"]["command"][-2:] == ["imgsim_stack.compose_credentials", "make"]
    assert "compose_credentials hand-out" in services["init"]["command"][-1]


# The settings classes each service reads its environment with.
SETTINGS: dict[str, tuple[type[BaseSettings], ...]] = {
    "vectorizer": (VectorizerSettings, EmbeddingSettings),
    "search-api": (SearchApiSettings,),
    "indexer-check": (IndexerCheckSettings,),
    "credentials": (StackSettings,),
    "init": (StackSettings,),
}


def test_every_variable_a_service_gets_is_a_setting_it_reads(services: dict[str, Any]) -> None:
    """A misspelt name would leave the default in place: a plaintext, password-less client."""
    for name, classes in SETTINGS.items():
        for key in services[name]["environment"]:
            known = [
                cls.__name__
                for cls in classes
                if key.startswith(prefix := str(cls.model_config.get("env_prefix", "")))
                and key[len(prefix) :].lower() in cls.model_fields
            ]
            assert known, f"{name}: {key} is not a setting of {[c.__name__ for c in classes]}"


def _final_stage_user(dockerfile: Path) -> str | None:
    stages = re.split(r"(?m)^FROM\s", dockerfile.read_text())
    users = re.findall(r"(?m)^USER\s+(\S+)", stages[-1])
    return users[-1] if users else None


def test_every_container_runs_as_a_non_root_user(services: dict[str, Any]) -> None:
    for name, service in services.items():
        uid = str(service.get("user", "")).split(":")[0]
        assert uid.isdigit() and int(uid) != 0, f"{name} runs as {uid or 'the image default'}"
        if "build" in service:
            build = service["build"]
            dockerfile = REPO_ROOT / build["context"] / build.get("dockerfile", "Dockerfile")
            user = _final_stage_user(dockerfile)
            assert user is not None and user.split(":")[0] == uid, f"{dockerfile}: USER {user}"


def test_the_image_owns_the_directories_its_volumes_are_mounted_on() -> None:
    """Docker gives a new named volume the owner of the directory it is mounted on."""
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    made = re.search(r"install -d -o imgsim -g imgsim[^\n]*((?:\n\s+\S+ \\?)+)", dockerfile)

    assert made is not None
    directories = set(made[1].replace("\\", " ").split())
    for name in BEFORE_START | AFTER_PROVISIONING:
        assert str(HAND_OUT_ROOT / name) in directories, name
    assert SECURITY in directories
    assert str(credentials.connect_dir(STATE_DIR)) in directories


def _compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0


def test_docker_compose_accepts_the_file() -> None:
    if not _compose_available():
        if os.environ.get("IMGSIM_REQUIRE_COMPOSE"):
            pytest.fail("`docker compose` is required here (IMGSIM_REQUIRE_COMPOSE is set)")
        pytest.skip("the docker client with the compose plugin is not installed")
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )

    assert result.returncode == 0, result.stderr
