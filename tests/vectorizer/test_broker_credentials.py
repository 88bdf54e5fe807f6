"""The worker's faust app gets the `VECTORIZER_KAFKA_*` security settings as aiokafka's."""

from pathlib import Path

import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from imgsim_vectorizer.app import broker_credentials
from imgsim_vectorizer.settings import VectorizerSettings

from tests.support import make_ca_file


def test_plaintext_needs_no_credentials() -> None:
    assert broker_credentials(VectorizerSettings()) is None


def test_sasl_ssl_becomes_aiokafka_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "password").write_text("worker-secret\n")
    monkeypatch.setenv("VECTORIZER_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("VECTORIZER_KAFKA_SASL_USERNAME", "vectorizer")
    monkeypatch.setenv("VECTORIZER_KAFKA_SASL_PASSWORD_FILE", str(tmp_path / "password"))
    monkeypatch.setenv("VECTORIZER_KAFKA_SSL_CA_FILE", str(make_ca_file(tmp_path)))
    credentials = broker_credentials(VectorizerSettings())
    auth = credentials_to_aiokafka_auth(credentials)
    assert auth["security_protocol"] == "SASL_SSL"
    assert auth["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == (
        "vectorizer",
        "worker-secret",
    )
    assert len(auth["ssl_context"].get_ca_certs()) == 1
    # faust logs its credentials object: the password is not in it.
    assert "worker-secret" not in repr(credentials)


def test_tls_without_sasl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VECTORIZER_KAFKA_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("VECTORIZER_KAFKA_SSL_CA_FILE", str(make_ca_file(tmp_path)))
    auth = credentials_to_aiokafka_auth(broker_credentials(VectorizerSettings()))
    assert auth["security_protocol"] == "SSL"
    assert "sasl_mechanism" not in auth
