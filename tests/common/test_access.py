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
