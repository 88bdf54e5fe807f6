"""Client configs for secured clusters are built in one place, from settings and secret files."""

import base64
import ssl
from pathlib import Path

import pytest
from imgsim_common import access
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from tests.support import make_ca_file


class ServiceSettings(BaseSettings, access.KafkaAccess, access.ElasticsearchAccess):
    """What a service's settings class looks like: the mixins under its own prefix."""

    model_config = SettingsConfigDict(env_prefix="SOMESERVICE_", extra="forbid")


def _secret_file(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content)
    return path


def test_plaintext_kafka_by_default() -> None:
    config = access.KafkaAccess().kafka_config()
    assert config == {"bootstrap.servers": "127.0.0.1:9092", "security.protocol": "plaintext"}
    assert access.KafkaAccess().kafka_ssl_context() is None


def test_sasl_ssl_from_the_service_prefix_and_a_secret_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = make_ca_file(tmp_path)
    password = _secret_file(tmp_path, "kafka-password", "s3cret-of-the-vectorizer\n")
    monkeypatch.setenv("SOMESERVICE_KAFKA_BOOTSTRAP_SERVERS", "broker:19092")
    monkeypatch.setenv("SOMESERVICE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("SOMESERVICE_KAFKA_SASL_USERNAME", "vectorizer")
    monkeypatch.setenv("SOMESERVICE_KAFKA_SASL_PASSWORD_FILE", str(password))
    monkeypatch.setenv("SOMESERVICE_KAFKA_SSL_CA_FILE", str(ca))
    settings = ServiceSettings()
    assert settings.kafka_config() == {
        "bootstrap.servers": "broker:19092",
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "vectorizer",
        # The file's trailing newline is not part of the password.
        "sasl.password": "s3cret-of-the-vectorizer",
        "ssl.ca.location": str(ca),
    }
    context = settings.kafka_ssl_context()
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert len(context.get_ca_certs()) == 1
    # Printed settings never show the secret.
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in str(settings.model_dump())


def test_sasl_without_credentials_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOMESERVICE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(ValidationError, match="kafka_sasl_username and kafka_sasl_password"):
        ServiceSettings()


def test_a_secret_and_its_file_together_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOMESERVICE_ELASTICSEARCH_API_KEY", "inline-key")
    monkeypatch.setenv(
        "SOMESERVICE_ELASTICSEARCH_API_KEY_FILE", str(_secret_file(tmp_path, "k", "file-key"))
    )
    with pytest.raises(ValidationError, match="not both"):
        ServiceSettings()


def test_an_unreadable_secret_file_names_the_path_not_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "no-such-key"
    monkeypatch.setenv("SOMESERVICE_ELASTICSEARCH_API_KEY_FILE", str(missing))
    with pytest.raises(ValidationError, match="cannot read the secret file .*no-such-key"):
        ServiceSettings()
    empty = _secret_file(tmp_path, "empty", "\n")
    monkeypatch.setenv("SOMESERVICE_ELASTICSEARCH_API_KEY_FILE", str(empty))
    with pytest.raises(ValidationError, match="is empty"):
        ServiceSettings()


def test_elasticsearch_api_key_and_ca(tmp_path: Path) -> None:
    ca = make_ca_file(tmp_path)
    key = _secret_file(tmp_path, "search.key", "aWQ6a2V5")
    es = access.ElasticsearchAccess(
        elasticsearch_url="https://127.0.0.1:19200/",
        elasticsearch_ca_file=ca,
        elasticsearch_api_key_file=key,
    )
    assert es.elasticsearch_options() == {
        "hosts": "https://127.0.0.1:19200",
        "ca_certs": str(ca),
        "api_key": "aWQ6a2V5",
    }
    assert es.elasticsearch_authorization() == "ApiKey aWQ6a2V5"
    verify = es.elasticsearch_verify()
    assert isinstance(verify, ssl.SSLContext) and len(verify.get_ca_certs()) == 1


def test_elasticsearch_basic_auth_and_fingerprint() -> None:
    es = access.ElasticsearchAccess(
        elasticsearch_url="https://es:9200",
        elasticsearch_ca_fingerprint="AB:CD",
        elasticsearch_username="elastic",
        elasticsearch_password="changeme",
    )
    options = es.elasticsearch_options()
    assert options["basic_auth"] == ("elastic", "changeme")
    assert options["ssl_assert_fingerprint"] == "AB:CD"
    header = es.elasticsearch_authorization()
    assert header is not None and base64.b64decode(header.split()[1]) == b"elastic:changeme"
    # A plain HTTP client cannot pin a fingerprint: it says what it needs instead.
    with pytest.raises(ValueError, match="CA file"):
        es.elasticsearch_verify()


@pytest.mark.parametrize(
    "fields",
    [
        {"elasticsearch_username": "elastic"},
        {"elasticsearch_url": "127.0.0.1:9200"},
        {
            "elasticsearch_api_key": "k",
            "elasticsearch_username": "u",
            "elasticsearch_password": "p",
        },
    ],
)
def test_elasticsearch_settings_that_cannot_work_are_refused(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        access.ElasticsearchAccess(**fields)


def test_connect_basic_auth(tmp_path: Path) -> None:
    connect = access.ConnectAccess(
        connect_username="checker", connect_password_file=_secret_file(tmp_path, "c", "pw")
    )
    assert connect.connect_authorization() == "Basic " + base64.b64encode(b"checker:pw").decode()
    assert access.ConnectAccess().connect_authorization() is None
    assert access.ConnectAccess().connect_verify() is True


TOGETHER, NEEDS, URL = "go together", "needs kafka_sasl_username", "not an http"


@pytest.mark.parametrize(
    ("settings", "fields", "why"),
    [
        (access.KafkaAccess, {"kafka_ssl_certificate_file": "me.pem"}, TOGETHER),
        (access.KafkaAccess, {"kafka_ssl_key_file": "me.key"}, TOGETHER),
        (
            access.KafkaAccess,
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "u"},
            NEEDS,
        ),
        (
            access.KafkaAccess,
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_password": "p"},
            NEEDS,
        ),
        (access.ElasticsearchAccess, {"elasticsearch_password": "p"}, TOGETHER),
        (access.ElasticsearchAccess, {"elasticsearch_url": "https://"}, URL),
        (access.ElasticsearchAccess, {"elasticsearch_url": "ftp://es:9200"}, URL),
        (access.ConnectAccess, {"connect_username": "checker"}, TOGETHER),
        (access.ConnectAccess, {"connect_password": "p"}, TOGETHER),
        (access.ConnectAccess, {"connect_url": "http:///connectors"}, URL),
        (access.ConnectAccess, {"connect_url": "connect:8083"}, URL),
    ],
)
def test_half_of_a_credential_or_a_url_without_a_host_is_refused(
    settings: type[access.KafkaAccess | access.ElasticsearchAccess | access.ConnectAccess],
    fields: dict[str, str],
    why: str,
) -> None:
    # Half a pair would connect without the other half: anonymously, or without our certificate.
    with pytest.raises(ValidationError, match=why):
        settings(**fields)


def test_mutual_tls_with_a_key_password_from_its_file(tmp_path: Path) -> None:
    ca = make_ca_file(tmp_path)
    # The test CA doubles as our certificate; its key is not encrypted, so any password opens it.
    key = tmp_path / "test-ca.key"
    kafka = access.KafkaAccess(
        kafka_security_protocol="SSL",
        kafka_ssl_ca_file=ca,
        kafka_ssl_certificate_file=ca,
        kafka_ssl_key_file=key,
        kafka_ssl_key_password_file=_secret_file(tmp_path, "key-password", "k3y-pass\n"),
    )

    assert kafka.kafka_config() == {
        "bootstrap.servers": "127.0.0.1:9092",
        "security.protocol": "ssl",
        "ssl.ca.location": str(ca),
        "ssl.certificate.location": str(ca),
        "ssl.key.location": str(key),
        "ssl.key.password": "k3y-pass",
    }
    assert isinstance(kafka.kafka_ssl_context(), ssl.SSLContext)
    # Over TLS without a CA file, the system's CAs verify the brokers.
    system = access.KafkaAccess(kafka_security_protocol="SSL").kafka_ssl_context()
    assert system is not None and system.verify_mode == ssl.CERT_REQUIRED


def test_an_elasticsearch_password_from_its_file(tmp_path: Path) -> None:
    es = access.ElasticsearchAccess(
        elasticsearch_username="search",
        elasticsearch_password_file=_secret_file(tmp_path, "es-password", "pw-from-file\n"),
    )

    assert es.elasticsearch_options() == {
        "hosts": "http://127.0.0.1:9200",
        "basic_auth": ("search", "pw-from-file"),
    }
    assert access.ElasticsearchAccess().elasticsearch_authorization() is None
    assert access.ElasticsearchAccess().elasticsearch_verify() is True


def test_a_secret_file_that_is_not_text_names_the_path(tmp_path: Path) -> None:
    binary = tmp_path / "binary-key"
    binary.write_bytes(b"\xff\xfe\x00secret")

    with pytest.raises(access.SecretFileError, match="binary-key: UnicodeDecodeError"):
        access.read_secret(binary)


def test_one_clients_librdkafka_settings_and_the_brokers_it_names() -> None:
    secured = access.KafkaAccess(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username="u",
        kafka_sasl_password="p",
        kafka_bootstrap_servers="broker:9093",
    ).kafka_config()

    assert access.librdkafka("broker:9092") == {"bootstrap.servers": "broker:9092"}
    assert access.librdkafka("broker:9092", {"acks": "all"}) == {
        "bootstrap.servers": "broker:9092",
        "acks": "all",
    }
    assert access.librdkafka(secured, {"acks": "all"}) == secured | {"acks": "all"}
    assert access.bootstrap_of("broker:9092") == "broker:9092"
    assert access.bootstrap_of(secured) == "broker:9093"


def test_a_context_given_several_cas_trusts_each_and_only_them(tmp_path: Path) -> None:
    # The checker's one HTTP client verifies Connect and Elasticsearch, whose CAs may differ.
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = make_ca_file(tmp_path / "a"), make_ca_file(tmp_path / "b")

    assert len(access.ssl_context(first, None, second).get_ca_certs()) == 2
    assert len(access.ssl_context(None, second).get_ca_certs()) == 1
