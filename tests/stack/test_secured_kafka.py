"""The secured stack's Kafka and Connect refuse whoever brings no credentials, let each client in
as its own user, and show no secret on a command line, in a log or through Connect's REST API."""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import confluent_kafka
import httpx
import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]
from confluent_kafka.cimpl import NewTopic
from imgsim_common import names
from imgsim_stack import cli, credentials, provision

from tests.stack.secured_fixtures import SecuredStack
from tests.support import eventually

pytestmark = [pytest.mark.integration, pytest.mark.secured]


def _secrets(stack: SecuredStack) -> dict[str, str]:
    """Every secret of the stack: the launcher's files and Connect's own copies."""
    folders = [stack.secrets_dir, credentials.connect_dir(stack.settings.state_dir)]
    return {
        f"{path.parent.name}/{path.name}": path.read_text()
        for folder in folders
        for path in folder.iterdir()
        if path.is_file() and path.suffix != ".pem"
    }


@pytest.fixture(scope="module")
def kcat_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """kcat on the librdkafka that confluent-kafka ships: Debian's kcat links librdkafka 2.0,
    whose SCRAM client Kafka 4 refuses (it repeats the nonce; fixed in librdkafka 2.6.1)."""
    if shutil.which("kcat") is None:
        pytest.skip("kcat is not installed")
    package = Path(confluent_kafka.__file__).parent
    shipped = sorted(package.parent.glob("confluent_kafka.libs/librdkafka*.so*"))
    assert shipped, "confluent-kafka's wheel ships its librdkafka"
    directory = tmp_path_factory.mktemp("librdkafka")
    (directory / "librdkafka.so.1").symlink_to(shipped[0])
    return {**os.environ, "LD_LIBRARY_PATH": str(directory)}


def _kcat_list(
    env: dict[str, str], bootstrap: str, config: dict[str, str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    # The login goes in a configuration file (-F), never in kcat's arguments.
    properties = tmp_path / "kcat.conf"
    credentials.write_private_file(properties, "".join(f"{k}={v}\n" for k, v in config.items()))
    return subprocess.run(
        ["kcat", "-F", str(properties), "-b", bootstrap, "-L", "-m", "5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _login(stack: SecuredStack, user: str, password: str | None = None) -> dict[str, str]:
    return {
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": user,
        "sasl.password": password or stack.secret(f"kafka-{user}"),
        "ssl.ca.location": str(stack.ca_file),
    }


def test_kafka_refuses_a_client_without_credentials(
    secured_stack: SecuredStack, kcat_env: dict[str, str], tmp_path: Path
) -> None:
    bootstrap = secured_stack.bootstrap_servers
    plain = subprocess.run(
        ["kcat", "-b", bootstrap, "-L", "-m", "5"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert plain.returncode != 0
    assert "Failed to acquire metadata" in plain.stderr

    tls_only = {"security.protocol": "ssl", "ssl.ca.location": str(secured_stack.ca_file)}
    assert _kcat_list(kcat_env, bootstrap, tls_only, tmp_path).returncode != 0

    wrong = _login(secured_stack, "vectorizer", "wrong")
    refused = _kcat_list(kcat_env, bootstrap, wrong, tmp_path)
    assert refused.returncode != 0
    assert "invalid credentials" in refused.stderr


def test_kafka_lists_topics_for_each_client_user(
    secured_stack: SecuredStack, kcat_env: dict[str, str], tmp_path: Path
) -> None:
    for user in credentials.KAFKA_USERS:
        login = _login(secured_stack, user)
        listed = _kcat_list(kcat_env, secured_stack.bootstrap_servers, login, tmp_path)
        assert listed.returncode == 0, (user, listed.stderr[-500:])
        assert f'topic "{names.IMAGE_PATHS_TOPIC}"' in listed.stdout


def test_the_controller_listener_takes_only_the_brokers_certificate(
    secured_stack: SecuredStack, kcat_env: dict[str, str], tmp_path: Path
) -> None:
    settings = secured_stack.settings
    controller = f"{settings.host}:{settings.kafka_controller_port}"
    for protocol in ("plaintext", "ssl"):
        config = {"security.protocol": protocol, "ssl.ca.location": str(secured_stack.ca_file)}
        refused = _kcat_list(kcat_env, controller, config, tmp_path)
        assert refused.returncode != 0, protocol


def test_client_env_points_each_service_at_its_own_login(secured_stack: SecuredStack) -> None:
    env = secured_stack.client_env
    for prefix, user in credentials.KAFKA_CLIENTS.items():
        assert env[f"{prefix}KAFKA_SASL_USERNAME"] == user
        config: credentials.KafkaConfig = {
            "bootstrap.servers": env[f"{prefix}KAFKA_BOOTSTRAP_SERVERS"],
            "security.protocol": env[f"{prefix}KAFKA_SECURITY_PROTOCOL"],
            "sasl.mechanism": env[f"{prefix}KAFKA_SASL_MECHANISM"],
            "sasl.username": user,
            "sasl.password": Path(env[f"{prefix}KAFKA_SASL_PASSWORD_FILE"]).read_text(),
            "ssl.ca.location": env[f"{prefix}KAFKA_SSL_CA_FILE"],
        }
        topics = AdminClient(config).list_topics(timeout=15).topics
        assert names.IMAGE_PATHS_TOPIC in topics, prefix
    assert env["INDEXER_CHECK_CONNECT_URL"] == secured_stack.connect_url
    # The stack's own lines find it again (`set -a; . client.env; imgsim-stack status`).
    assert env["IMGSIM_STACK_KAFKA_PORT"] == str(secured_stack.settings.kafka_port)


@pytest.fixture
def connect(secured_stack: SecuredStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=secured_stack.connect_url, timeout=10) as http:
        yield http


def test_connect_rest_api_asks_for_credentials(
    secured_stack: SecuredStack, connect: httpx.Client
) -> None:
    for path in ("/", "/connectors", f"/connectors/{names.SINK_CONNECTOR}"):
        assert connect.get(path).status_code == 401, path
    assert connect.get("/connectors", auth=("admin", "wrong")).status_code == 401
    assert connect.delete(f"/connectors/{names.SINK_CONNECTOR}").status_code == 401
    for user in credentials.CONNECT_REST_USERS:
        login = (user, secured_stack.secret(f"connect-{user}"))
        listed = connect.get("/connectors", auth=login)
        assert listed.status_code == 200, user
        assert names.SINK_CONNECTOR in listed.json()


def test_connect_refuses_client_overrides_and_shows_no_secret(
    secured_stack: SecuredStack, connect: httpx.Client
) -> None:
    auth = credentials.launcher_connect_auth(secured_stack.settings)
    assert auth is not None
    sink = connect.get(f"/connectors/{names.SINK_CONNECTOR}", auth=auth)
    assert sink.status_code == 200
    assert not any(secret in sink.text for secret in _secrets(secured_stack).values())

    overriding = {
        **sink.json()["config"],
        "name": "overriding-sink",
        "consumer.override.sasl.jaas.config": "anything",
    }
    refused = connect.put("/connectors/overriding-sink/config", json=overriding, auth=auth)
    assert refused.status_code == 400
    assert "'None' policy does not allow" in refused.text
    assert connect.get("/connectors/overriding-sink", auth=auth).status_code == 404


def test_the_sink_consumes_as_the_connect_user(secured_stack: SecuredStack) -> None:
    # The sink's consumer group exists only if its consumer logged in (SASL_SSL as `connect`).
    admin = AdminClient(credentials.launcher_kafka_config(secured_stack.settings))
    groups = {g.group_id for g in admin.list_consumer_groups().result(timeout=15).valid}
    assert f"connect-{names.SINK_CONNECTOR}" in groups


def test_a_sink_reads_from_the_earliest_offset_without_an_override(
    secured_stack: SecuredStack, connect: httpx.Client, run_tag: str
) -> None:
    """The override policy None took `consumer.override.auto.offset.reset` away: records
    published before the connector existed must still be read (Connect's sink default)."""
    settings = secured_stack.settings
    kafka = credentials.launcher_kafka_config(settings)
    pipeline = names.ModelPipeline(
        None, f"{run_tag}-early", f"paintings-{run_tag}", f"{run_tag}-sink", "-", f"{run_tag}-dlq"
    )
    topics = [pipeline.topic, pipeline.sink_dead_letter_topic]
    admin = AdminClient(kafka)
    for future in admin.create_topics([NewTopic(t, 1, 1) for t in topics]).values():
        future.result(timeout=30)
    producer = Producer({**kafka, "acks": "all"})
    for n in range(3):
        # Not paintings: each goes to the dead-letter topic, and its offset is committed.
        producer.produce(pipeline.topic, key=f"{run_tag}-{n}", value=b"not a painting")
    assert producer.flush(30) == 0
    auth = credentials.launcher_connect_auth(settings)
    assert auth is not None
    url = f"/connectors/{pipeline.connector}"
    latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    try:
        config = provision.connector_config(settings, pipeline)
        assert not any(key.startswith("consumer.override.") for key in config)
        assert connect.put(f"{url}/config", json=config, auth=auth).status_code == 201

        def dead_letters() -> int | None:
            # Each record read reached the dead-letter topic: none would with a `latest` reset.
            end = admin.list_offsets({TopicPartition(pipeline.sink_dead_letter_topic, 0): latest})
            offset = next(iter(end.values())).result(timeout=10).offset
            return offset if offset == 3 else None

        eventually(dead_letters, timeout_s=90, what="the 3 early records in the dead-letter topic")
    finally:
        connect.delete(url, auth=auth)
        for future in admin.delete_topics(topics).values():
            future.result(timeout=30)


def test_no_secret_on_a_command_line_or_in_a_log(secured_stack: SecuredStack) -> None:
    secrets = _secrets(secured_stack)
    assert len(secrets) >= len(credentials.KAFKA_USERS) + len(credentials.CONNECT_REST_USERS)
    jvms = [c.process.pid() for c in cli.components(secured_stack.settings)]
    assert all(jvms), "the secured stack's three JVMs run"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        leaked = [name for name, secret in secrets.items() if secret in command]
        assert not leaked, (entry.name, leaked)
    for log in secured_stack.settings.logs_dir.glob("*"):
        text = log.read_text(errors="replace")
        leaked = [name for name, secret in secrets.items() if secret in text]
        assert not leaked, (log, leaked)


def test_the_launchers_output_holds_no_secret(secured_stack: SecuredStack) -> None:
    # client.env alone points the launcher at the secured stack; `up` again changes nothing.
    env = {**os.environ, **secured_stack.client_env}
    secrets = _secrets(secured_stack)
    for command in ("up", "status"):
        run = subprocess.run(
            [sys.executable, "-m", "imgsim_stack.cli", command],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert run.returncode == 0, run.stderr[-800:]
        output = run.stdout + run.stderr
        leaked = [name for name, secret in secrets.items() if secret in output]
        assert not leaked, (command, leaked)
    # `status` reported the secured stack, not the plain one.
    assert f"{secured_stack.settings.kafka_port}, " in output
