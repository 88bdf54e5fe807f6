"""The secured mode's certificates, credentials and Kafka/Connect configuration, without a stack."""

import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from imgsim_stack import certificates, credentials, kafka_security
from imgsim_stack.artifacts import installation
from imgsim_stack.components import Connect, Kafka, render_properties, worker_properties
from imgsim_stack.errors import StackError
from imgsim_stack.settings import StackSettings

from tests.stack.secured_fixtures import secured_settings


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _names(pem: Path) -> list[str]:
    certificate = x509.load_pem_x509_certificate(pem.read_bytes())
    sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(name.value) for name in sans]


@pytest.fixture
def secured(tmp_path: Path) -> StackSettings:
    settings = StackSettings(
        security="on",
        state_dir=tmp_path / "secured",
        kafka_port=19092,
        kafka_controller_port=19093,
        connect_port=18083,
        elasticsearch_port=19200,
        elasticsearch_transport_port=19300,
        prometheus_port=0,
    )
    credentials.prepare(settings)
    return settings


def _secrets(settings: StackSettings) -> list[str]:
    return [p.read_text() for p in credentials.secrets_dir(settings.state_dir).iterdir()]


def test_server_certificates_are_signed_by_the_stack_ca_for_its_hosts(tmp_path: Path) -> None:
    made = certificates.ensure_certificates(tmp_path, ["imgsim.example", "10.0.0.7"])

    ca = x509.load_pem_x509_certificate(made.ca_certificate.read_bytes())
    for server in (made.kafka, made.elasticsearch):
        leaf = x509.load_pem_x509_certificates(server.certificate.read_bytes())
        leaf[0].verify_directly_issued_by(ca)
        assert leaf[1] == ca  # the chain a client verifies
        assert set(_names(server.certificate)) == {
            "127.0.0.1",
            "localhost",
            "imgsim.example",
            "10.0.0.7",
        }
        assert _mode(server.key) == 0o600
    assert _mode(made.ca_key) == 0o600
    assert _mode(made.ca_certificate) == 0o644


def test_certificates_are_made_once_and_again_only_for_a_new_host(tmp_path: Path) -> None:
    first = certificates.ensure_certificates(tmp_path, ["127.0.0.1"])
    ca, kafka = first.ca_certificate.read_bytes(), first.kafka.certificate.read_bytes()

    certificates.ensure_certificates(tmp_path, ["127.0.0.1"])
    assert first.kafka.certificate.read_bytes() == kafka

    certificates.ensure_certificates(tmp_path, ["stack.local"])
    assert first.ca_certificate.read_bytes() == ca  # clients keep trusting the same CA
    assert first.kafka.certificate.read_bytes() != kafka
    assert "stack.local" in _names(first.kafka.certificate)


def test_fingerprint_is_the_sha256_of_the_ca(tmp_path: Path) -> None:
    made = certificates.ensure_certificates(tmp_path, [])
    der = subprocess.run(
        ["openssl", "x509", "-in", str(made.ca_certificate), "-noout", "-fingerprint", "-sha256"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert certificates.sha256_fingerprint(made.ca_certificate) == (
        der.split("=", 1)[1].strip().replace(":", "").lower()
    )


def test_secrets_are_random_private_and_kept(tmp_path: Path) -> None:
    first = credentials.ensure_secret(tmp_path, "kafka-admin")
    other = credentials.ensure_secret(tmp_path, "kafka-checker")
    value = first.read_text()

    assert credentials.ensure_secret(tmp_path, "kafka-admin").read_text() == value
    assert len(value) >= 40 and value != other.read_text() and "\n" not in value
    assert _mode(first) == 0o600
    assert _mode(first.parent) == 0o700
    with pytest.raises(ValueError):
        credentials.secret_file(tmp_path, "../escape")


def test_client_env_merges_and_never_holds_a_secret(secured: StackSettings) -> None:
    state = secured.state_dir
    path = credentials.write_client_env(state, {"SEARCH_API_ELASTICSEARCH_USERNAME": "search"})
    credentials.write_client_env(state, {"SEARCH_API_ELASTICSEARCH_USERNAME": "reader"})

    entries = credentials.read_client_env(path)
    assert entries["SEARCH_API_ELASTICSEARCH_USERNAME"] == "reader"
    assert entries["VECTORIZER_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert entries["INDEXER_CHECK_KAFKA_SASL_USERNAME"] == "checker"
    assert entries["IMGSIM_STACK_SECURITY"] == "on"
    for key, value in entries.items():
        if key.endswith("_FILE"):
            assert Path(value).is_file(), key
    text = path.read_text()
    assert not any(secret in text for secret in _secrets(secured))
    with pytest.raises(ValueError, match="_FILE"):
        credentials.write_client_env(state, {"VECTORIZER_KAFKA_SASL_PASSWORD": "x"})
    with pytest.raises(ValueError, match="quoting"):
        credentials.write_client_env(state, {"VECTORIZER_KAFKA_SASL_USERNAME": "a b"})


def test_client_env_is_read_by_a_shell(secured: StackSettings) -> None:
    path = credentials.client_env_path(secured.state_dir)
    shown = subprocess.run(
        ["sh", "-c", f'set -a; . "{path}"; echo "$VECTORIZER_KAFKA_SASL_PASSWORD_FILE"'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert shown == str(credentials.kafka_password_file(secured.state_dir, "vectorizer"))


def test_launcher_kafka_config_logs_in_as_admin_only_when_secured(
    secured: StackSettings,
) -> None:
    plain = StackSettings(state_dir=secured.state_dir)

    assert credentials.launcher_kafka_config(plain) == {"bootstrap.servers": "127.0.0.1:9092"}
    config = credentials.launcher_kafka_config(secured)
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.username"] == "admin"
    assert config["bootstrap.servers"] == "127.0.0.1:19092"
    assert Path(str(config["ssl.ca.location"])).is_file()
    assert credentials.launcher_connect_auth(plain) is None
    assert credentials.launcher_connect_auth(secured) is not None


def test_missing_secret_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="kafka-admin"):
        credentials.read_secret(credentials.kafka_password_file(tmp_path, "admin"))


def test_broker_listens_for_clients_only_on_sasl_ssl(secured: StackSettings) -> None:
    made = certificates.stack_certificates(secured.state_dir)
    broker = kafka_security.broker_properties(secured, made)

    assert broker["listeners"] == "SASL_SSL://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert "PLAINTEXT" not in str(broker["listener.security.protocol.map"]).replace(
        "SASL_PLAINTEXT", ""
    )
    assert broker["listener.name.controller.ssl.client.auth"] == "required"
    assert broker["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    # Only the leaf goes inline: Kafka would present the CA's certificate otherwise.
    assert str(broker["ssl.keystore.certificate.chain"]).count("BEGIN CERTIFICATE") == 1
    assert len(render_properties(broker).splitlines()) == len(broker)  # one line each


def test_kafka_files_hold_secrets_unreadable_to_others_and_commands_hold_none(
    secured: StackSettings,
) -> None:
    install = installation(secured)
    kafka, connect = Kafka(secured, install), Connect(secured, install)
    connect.prepare()
    # Kafka.prepare would format storage (a JVM): write its configuration the same way.
    kafka.home.mkdir(parents=True)
    properties = render_properties(
        kafka_security.broker_properties(
            secured, certificates.stack_certificates(secured.state_dir)
        )
    )
    credentials.write_private_file(kafka.home / "server.properties", properties)

    secrets = _secrets(secured)
    for path in [kafka.home / "server.properties", *connect.home.glob("*.properties")]:
        if path.name != "log4j2.properties":
            assert _mode(path) == 0o600, path
    assert _mode(connect.rest_jaas) == 0o600
    assert _mode(credentials.connect_dir(secured.state_dir)) == 0o700
    for command in (kafka.command(), connect.command()):
        assert not any(secret in " ".join(command) for secret in secrets)
    assert f"-Djava.security.auth.login.config={connect.rest_jaas}" in connect.command()
    worker = (connect.home / "connect-distributed.properties").read_text()
    assert not any(secret in worker for secret in secrets)
    assert not any(secret in connect.rest_jaas.read_text() for secret in secrets)
    users = (connect.home / "rest-users.properties").read_text()
    assert users.splitlines()[0].startswith("admin=")


def test_every_client_of_the_worker_logs_in_through_a_provider(secured: StackSettings) -> None:
    worker = kafka_security.worker_properties(
        secured, certificates.stack_certificates(secured.state_dir)
    )

    for prefix in ("", "producer.", "consumer.", "admin."):
        assert worker[f"{prefix}security.protocol"] == "SASL_SSL"
        assert 'username="connect"' in str(worker[f"{prefix}sasl.jaas.config"])
        assert "${dir:" in str(worker[f"{prefix}sasl.jaas.config"])
    # Connect's own folder only: a connector cannot name any other file for the worker to read.
    own = credentials.connect_dir(secured.state_dir)
    assert worker["config.providers.file.param.allowed.paths"] == own
    assert worker["config.providers.dir.param.allowed.paths"] == own
    assert f"${{dir:{own}:" in str(worker["sasl.jaas.config"])
    assert str(worker["rest.extension.classes"]).endswith("BasicAuthSecurityRestExtension")


def test_no_connector_may_override_its_clients_in_either_mode() -> None:
    worker = worker_properties("kafka:9092", "http://0.0.0.0:8083", "connect", "/plugins")
    assert worker["connector.client.config.override.policy"] == "None"


def test_format_arguments_carry_the_admin_for_an_argument_file(secured: StackSettings) -> None:
    password = credentials.read_secret(credentials.kafka_password_file(secured.state_dir, "admin"))
    assert kafka_security.format_arguments(secured) == [
        "--add-scram",
        f"SCRAM-SHA-512=[name=admin,password={password}]",
    ]


def test_a_state_directory_formatted_plain_is_refused_in_the_secured_mode(
    secured: StackSettings,
) -> None:
    kafka = Kafka(secured, installation(secured))
    (kafka.home / "data").mkdir(parents=True)
    (kafka.home / "data" / "meta.properties").write_text("formatted by an older, plain run\n")

    with pytest.raises(StackError, match="formatted with IMGSIM_STACK_SECURITY=off"):
        kafka.prepare()

    (kafka.home / "storage-security").write_text("on")
    kafka.prepare()  # formatted secured: accepted
    assert _mode(kafka.home / "server.properties") == 0o600


def test_a_relative_state_directory_is_made_absolute(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each component runs in its own folder: `log.dirs=.stack/x/kafka/data` would move with it.
    monkeypatch.chdir("/tmp")
    assert StackSettings(state_dir=Path(".stack/secured")).state_dir == Path("/tmp/.stack/secured")


def test_the_secured_test_stack_runs_beside_the_plain_one() -> None:
    plain, secured = StackSettings(), secured_settings()
    assert secured.secured and not plain.secured
    assert secured.state_dir != plain.state_dir
    taken = {plain.kafka_port, plain.kafka_controller_port, plain.connect_port}
    taken |= {plain.elasticsearch_port, plain.elasticsearch_transport_port, plain.prometheus_port}
    ours = {secured.kafka_port, secured.kafka_controller_port, secured.connect_port}
    ours |= {secured.elasticsearch_port, secured.elasticsearch_transport_port}
    assert not taken & ours
    assert secured.prometheus_port == 0
