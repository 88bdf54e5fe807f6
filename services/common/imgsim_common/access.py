"""How every client of the product reaches a secured Kafka, Elasticsearch and Connect.

The one place that turns settings into client configuration: librdkafka's dictionary, an
`ssl.SSLContext` for aiokafka (faust), keyword arguments for elasticsearch-py, and the TLS and
`Authorization` header for plain HTTP clients (httpx). Each service's settings class inherits the
mixins it needs, so the variables carry the service's prefix (`VECTORIZER_KAFKA_SASL_PASSWORD`,
`SEARCH_API_ELASTICSEARCH_API_KEY_FILE`): two services can hold different credentials, which is
what least privilege asks.

A secret comes from its variable or, better, from a file named by `<variable>_FILE` (a mounted
secret, or what the native launcher's secured mode writes): never from a command line. Secrets
are `SecretStr`, so settings print as `**********` in reprs, logs and validation errors.
"""

import base64
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, SecretStr, model_validator

KafkaProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class SecretFileError(ValueError):
    pass


def read_secret(path: Path) -> SecretStr:
    """The secret a file holds, without its trailing newline (what `echo` and editors add)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        # The path, never the content: the error may be printed or logged.
        raise SecretFileError(f"cannot read the secret file {path}: {type(e).__name__}") from e
    secret = text.rstrip("\r\n")
    if not secret:
        raise SecretFileError(f"the secret file {path} is empty")
    return SecretStr(secret)


def load_secret_files(model: BaseModel, fields: tuple[str, ...]) -> None:
    """Each `<field>_file` that is set fills its `<field>` with the file's secret."""
    for field in fields:
        path: Path | None = getattr(model, f"{field}_file")
        if path is None:
            continue
        if getattr(model, field) is not None:
            raise ValueError(f"set {field} or {field}_file, not both")
        # The model is validated; assigning bypasses validation, and SecretStr is the type.
        object.__setattr__(model, field, read_secret(path))


def _reveal(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


def ssl_context(*ca_files: Path | None) -> ssl.SSLContext:
    """A client context that verifies servers against these CAs (the system's when none)."""
    files = [str(path) for path in ca_files if path is not None]
    if not files:
        return ssl.create_default_context()
    # Given a CA, trust that CA alone, not also every public one the system knows.
    context = ssl.create_default_context(cafile=files[0])
    for path in files[1:]:
        context.load_verify_locations(cafile=path)
    return context


class KafkaAccess(BaseModel):
    """Where Kafka is and how to prove who we are to it."""

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: KafkaProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr | None = None
    kafka_sasl_password_file: Path | None = None
    # PEM files: the CA that signed the brokers' certificates, and for mutual TLS our own.
    kafka_ssl_ca_file: Path | None = None
    kafka_ssl_certificate_file: Path | None = None
    kafka_ssl_key_file: Path | None = None
    kafka_ssl_key_password: SecretStr | None = None
    kafka_ssl_key_password_file: Path | None = None

    @model_validator(mode="after")
    def _kafka_secrets(self) -> "KafkaAccess":
        load_secret_files(self, ("kafka_sasl_password", "kafka_ssl_key_password"))
        if self.kafka_uses_sasl and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError(
                f"kafka_security_protocol {self.kafka_security_protocol} needs "
                "kafka_sasl_username and kafka_sasl_password (or kafka_sasl_password_file)"
            )
        if (self.kafka_ssl_certificate_file is None) != (self.kafka_ssl_key_file is None):
            raise ValueError("kafka_ssl_certificate_file and kafka_ssl_key_file go together")
        return self

    @property
    def kafka_uses_sasl(self) -> bool:
        return self.kafka_security_protocol.startswith("SASL_")

    @property
    def kafka_uses_tls(self) -> bool:
        return self.kafka_security_protocol in ("SSL", "SASL_SSL")

    def kafka_config(self) -> dict[str, Any]:
        """librdkafka's settings (confluent-kafka's Producer, Consumer and AdminClient)."""
        config: dict[str, Any] = {
            "bootstrap.servers": self.kafka_bootstrap_servers,
            "security.protocol": self.kafka_security_protocol.lower(),
        }
        if self.kafka_uses_sasl:
            config["sasl.mechanism"] = self.kafka_sasl_mechanism
            config["sasl.username"] = self.kafka_sasl_username
            config["sasl.password"] = _reveal(self.kafka_sasl_password)
        if self.kafka_uses_tls:
            if self.kafka_ssl_ca_file is not None:
                config["ssl.ca.location"] = str(self.kafka_ssl_ca_file)
            if self.kafka_ssl_certificate_file is not None:
                config["ssl.certificate.location"] = str(self.kafka_ssl_certificate_file)
                config["ssl.key.location"] = str(self.kafka_ssl_key_file)
            if self.kafka_ssl_key_password is not None:
                config["ssl.key.password"] = _reveal(self.kafka_ssl_key_password)
        return config

    def kafka_ssl_context(self) -> ssl.SSLContext | None:
        """For aiokafka (faust): None over plaintext."""
        if not self.kafka_uses_tls:
            return None
        context = ssl_context(self.kafka_ssl_ca_file)
        if self.kafka_ssl_certificate_file is not None:
            context.load_cert_chain(
                str(self.kafka_ssl_certificate_file),
                str(self.kafka_ssl_key_file),
                password=_reveal(self.kafka_ssl_key_password),
            )
        return context


def _http_url(value: str, what: str) -> str:
    url = urlparse(value.strip())
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError(f"{what} {value!r} is not an http(s) URL such as http://127.0.0.1:9200")
    return value.strip().rstrip("/")


def basic_authorization(username: str, password: SecretStr) -> str:
    token = f"{username}:{password.get_secret_value()}".encode()
    return f"Basic {base64.b64encode(token).decode('ascii')}"


class ElasticsearchAccess(BaseModel):
    """Where Elasticsearch is and how to prove who we are to it: an API key (the encoded
    `id:key` form Elasticsearch returns) or a username and password."""

    elasticsearch_url: str = "http://127.0.0.1:9200"
    elasticsearch_ca_file: Path | None = None
    # Instead of a CA file: the SHA-256 fingerprint of the CA or of the node's certificate,
    # as Elasticsearch prints it on its first start.
    elasticsearch_ca_fingerprint: str = ""
    elasticsearch_api_key: SecretStr | None = None
    elasticsearch_api_key_file: Path | None = None
    elasticsearch_username: str = ""
    elasticsearch_password: SecretStr | None = None
    elasticsearch_password_file: Path | None = None

    @model_validator(mode="after")
    def _elasticsearch_secrets(self) -> "ElasticsearchAccess":
        self.elasticsearch_url = _http_url(self.elasticsearch_url, "elasticsearch_url")
        load_secret_files(self, ("elasticsearch_api_key", "elasticsearch_password"))
        if self.elasticsearch_api_key is not None and self.elasticsearch_username:
            raise ValueError("set elasticsearch_api_key or elasticsearch_username, not both")
        if bool(self.elasticsearch_username) != (self.elasticsearch_password is not None):
            raise ValueError("elasticsearch_username and elasticsearch_password go together")
        return self

    def elasticsearch_options(self) -> dict[str, Any]:
        """Keyword arguments for elasticsearch-py's `Elasticsearch` and `AsyncElasticsearch`."""
        options: dict[str, Any] = {"hosts": self.elasticsearch_url}
        if self.elasticsearch_ca_file is not None:
            options["ca_certs"] = str(self.elasticsearch_ca_file)
        if self.elasticsearch_ca_fingerprint:
            options["ssl_assert_fingerprint"] = self.elasticsearch_ca_fingerprint
        if self.elasticsearch_api_key is not None:
            options["api_key"] = self.elasticsearch_api_key.get_secret_value()
        elif self.elasticsearch_password is not None:
            options["basic_auth"] = (
                self.elasticsearch_username,
                self.elasticsearch_password.get_secret_value(),
            )
        return options

    def elasticsearch_verify(self) -> ssl.SSLContext | bool:
        """TLS verification for a plain HTTP client (httpx). A fingerprint pins the server
        for elasticsearch-py only: such a client needs the CA file."""
        if self.elasticsearch_ca_file is not None:
            return ssl_context(self.elasticsearch_ca_file)
        if self.elasticsearch_ca_fingerprint:
            raise ValueError(
                "this client verifies Elasticsearch with a CA file (elasticsearch_ca_file); "
                "a fingerprint is not enough for it"
            )
        return True

    def elasticsearch_authorization(self) -> str | None:
        """The `Authorization` header for a plain HTTP client."""
        if self.elasticsearch_api_key is not None:
            return f"ApiKey {self.elasticsearch_api_key.get_secret_value()}"
        if self.elasticsearch_password is not None:
            return basic_authorization(self.elasticsearch_username, self.elasticsearch_password)
        return None


class ConnectAccess(BaseModel):
    """Kafka Connect's REST API: its URL and, when the worker runs Kafka's basic-auth REST
    extension, a username and password."""

    connect_url: str = "http://127.0.0.1:8083"
    connect_ca_file: Path | None = None
    connect_username: str = ""
    connect_password: SecretStr | None = None
    connect_password_file: Path | None = None

    @model_validator(mode="after")
    def _connect_secrets(self) -> "ConnectAccess":
        self.connect_url = _http_url(self.connect_url, "connect_url")
        load_secret_files(self, ("connect_password",))
        if bool(self.connect_username) != (self.connect_password is not None):
            raise ValueError("connect_username and connect_password go together")
        return self

    def connect_verify(self) -> ssl.SSLContext | bool:
        return ssl_context(self.connect_ca_file) if self.connect_ca_file is not None else True

    def connect_authorization(self) -> str | None:
        if self.connect_password is None:
            return None
        return basic_authorization(self.connect_username, self.connect_password)


# What the product's Kafka helpers take: a bootstrap string (a plaintext cluster, as tests and
# the defaults have it) or librdkafka's whole dictionary from `KafkaAccess.kafka_config()`.
KafkaClientConfig = str | Mapping[str, Any]


def librdkafka(kafka: KafkaClientConfig, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """librdkafka's settings for one client: where and how to connect, plus its own."""
    base = {"bootstrap.servers": kafka} if isinstance(kafka, str) else dict(kafka)
    return {**base, **(extra or {})}


def bootstrap_of(kafka: KafkaClientConfig) -> str:
    """The brokers' addresses alone: what messages name, never the credentials."""
    return kafka if isinstance(kafka, str) else str(kafka["bootstrap.servers"])
