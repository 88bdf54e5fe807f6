"""The secured stack's credentials: one random password per client, kept in files, and the
`client.env` that points the services at the stack by naming those files, never their content.

Under `<state_dir>/security/`: `secrets/` (0700) holds one file per secret (0600, no trailing
newline), `client.env` (0644) holds `KEY=VALUE` lines a shell (`set -a; . client.env`) or a
Makefile (`include`) reads. A secret is made once and kept: the broker's SCRAM store, Connect's
user file and every running client hold it.
"""

import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path

from imgsim_stack import certificates
from imgsim_stack.certificates import security_dir
from imgsim_stack.errors import StackError
from imgsim_stack.settings import StackSettings

# SCRAM users of the broker. `admin`: the broker's own inter-broker login and the launcher's
# provisioning; `connect`: the Connect worker and its connectors' clients; `vectorizer`: the
# worker and the publisher (both read VectorizerSettings); `checker`: the consistency checker.
KAFKA_USERS = ("admin", "connect", "vectorizer", "checker")
# Users of Connect's REST API (HTTP basic auth): the launcher and the checker.
CONNECT_REST_USERS = ("admin", "checker")
SCRAM_MECHANISM = "SCRAM-SHA-512"
# librdkafka's configuration, as confluent-kafka's clients take it.
KafkaConfig = dict[str, str | int | float | bool]

_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_KEY = re.compile(r"^[A-Z][A-Z0-9_]*$")
# Safe unquoted in both a POSIX shell and a Makefile: no blanks, quotes, `$`, `#`, `\`.
_VALUE = re.compile(r"^[A-Za-z0-9_./:,@%+=-]*$")


def secrets_dir(state_dir: Path) -> Path:
    return security_dir(state_dir).resolve() / "secrets"


def client_env_path(state_dir: Path) -> Path:
    return security_dir(state_dir).resolve() / "client.env"


def connect_dir(state_dir: Path) -> Path:
    """What the Connect worker reads, and nothing else (0700): its own Kafka password and the
    sink's Elasticsearch login and CA; its config providers may read no other folder."""
    return security_dir(state_dir).resolve() / "connect"


def secret_file(state_dir: Path, name: str) -> Path:
    """`secrets/<name>`; names such as `kafka-admin`, `connect-checker`, `elasticsearch-...`."""
    if not _NAME.match(name):
        raise ValueError(f"secret name {name!r}: lowercase letters, digits and '-' only")
    return secrets_dir(state_dir) / name


def kafka_password_file(state_dir: Path, user: str) -> Path:
    return secret_file(state_dir, f"kafka-{user}")


def connect_password_file(state_dir: Path, user: str) -> Path:
    return secret_file(state_dir, f"connect-{user}")


def write_secret(state_dir: Path, name: str, value: str) -> Path:
    """Stores a secret made elsewhere (an API key Elasticsearch answered, say)."""
    if not value or value != value.strip():
        raise ValueError(f"secret {name!r} must be non-empty without surrounding blanks")
    path = secret_file(state_dir, name)
    _write_private(path, value)
    return path


def ensure_secret(state_dir: Path, name: str) -> Path:
    """A random password (256 bits, URL-safe) in `secrets/<name>`, made only when missing."""
    path = secret_file(state_dir, name)
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(32))
    return path


def read_secret(path: Path) -> str:
    try:
        value = path.read_text().strip()
    except OSError as e:
        raise StackError("security", f"cannot read secret file {path}: {e.strerror}") from e
    if not value:
        raise StackError("security", f"secret file {path} is empty")
    return value


def ensure_stack_secrets(state_dir: Path) -> None:
    """Every password the Kafka and Connect side of a secured stack needs."""
    for user in KAFKA_USERS:
        ensure_secret(state_dir, f"kafka-{user}")
    for user in CONNECT_REST_USERS:
        ensure_secret(state_dir, f"connect-{user}")


def kafka_client_config(
    state_dir: Path, bootstrap_servers: str, user: str = "admin"
) -> KafkaConfig:
    """librdkafka settings of a client logging in as `user` (the launcher's AdminClient:
    `admin`), over TLS verified against the stack's CA."""
    return {
        "bootstrap.servers": bootstrap_servers,
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": SCRAM_MECHANISM,
        "sasl.username": user,
        "sasl.password": read_secret(kafka_password_file(state_dir, user)),
        "ssl.ca.location": str(security_dir(state_dir).resolve() / "ca.pem"),
    }


# Each service's settings prefix and the Kafka user it logs in as (imgsim_common.access).
KAFKA_CLIENTS = {"VECTORIZER_": "vectorizer", "INDEXER_CHECK_": "checker"}
# Services that call Connect's REST API, and as whom.
CONNECT_CLIENTS = {"INDEXER_CHECK_": "checker"}


def kafka_client_env(state_dir: Path, bootstrap_servers: str, connect_url: str) -> dict[str, str]:
    """The Kafka and Connect lines of `client.env`: each service as its own user."""
    ca = str(security_dir(state_dir).resolve() / "ca.pem")
    entries: dict[str, str] = {}
    for prefix, user in KAFKA_CLIENTS.items():
        entries |= {
            f"{prefix}KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
            f"{prefix}KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            f"{prefix}KAFKA_SASL_MECHANISM": SCRAM_MECHANISM,
            f"{prefix}KAFKA_SASL_USERNAME": user,
            f"{prefix}KAFKA_SASL_PASSWORD_FILE": str(kafka_password_file(state_dir, user)),
            f"{prefix}KAFKA_SSL_CA_FILE": ca,
        }
    for prefix, user in CONNECT_CLIENTS.items():
        entries |= {
            f"{prefix}CONNECT_URL": connect_url,
            f"{prefix}CONNECT_USERNAME": user,
            f"{prefix}CONNECT_PASSWORD_FILE": str(connect_password_file(state_dir, user)),
        }
    return entries


def stack_env(settings: StackSettings) -> dict[str, str]:
    """The `IMGSIM_STACK_*` lines of `client.env`: with them `imgsim-stack status` (and the
    tests' fixtures) find this stack rather than the plain one."""
    s = settings
    return {
        "IMGSIM_STACK_SECURITY": s.security,
        "IMGSIM_STACK_STATE_DIR": str(s.state_dir.resolve()),
        "IMGSIM_STACK_HOST": s.host,
        "IMGSIM_STACK_KAFKA_PORT": str(s.kafka_port),
        "IMGSIM_STACK_KAFKA_CONTROLLER_PORT": str(s.kafka_controller_port),
        "IMGSIM_STACK_CONNECT_PORT": str(s.connect_port),
        "IMGSIM_STACK_ELASTICSEARCH_PORT": str(s.elasticsearch_port),
        "IMGSIM_STACK_ELASTICSEARCH_TRANSPORT_PORT": str(s.elasticsearch_transport_port),
        "IMGSIM_STACK_PROMETHEUS_PORT": str(s.prometheus_port),
        "IMGSIM_STACK_KAFKA_HEAP": s.kafka_heap,
        "IMGSIM_STACK_CONNECT_HEAP": s.connect_heap,
        "IMGSIM_STACK_ELASTICSEARCH_HEAP": s.elasticsearch_heap,
    }


def prepare(settings: StackSettings) -> None:
    """The CA, the certificates, the Kafka and Connect passwords and their `client.env` lines:
    made when missing, kept otherwise."""
    state = settings.state_dir
    certificates.ensure_certificates(state, [settings.host])
    ensure_stack_secrets(state)
    write_client_env(
        state,
        stack_env(settings) | kafka_client_env(state, settings.bootstrap_servers, settings.connect),
    )


def launcher_kafka_config(settings: StackSettings) -> KafkaConfig:
    """The launcher's own AdminClient settings: as `admin` on a secured stack."""
    if not settings.secured:
        return {"bootstrap.servers": settings.bootstrap_servers}
    return kafka_client_config(settings.state_dir, settings.bootstrap_servers, "admin")


def launcher_connect_auth(settings: StackSettings) -> tuple[str, str] | None:
    """The launcher's basic-auth login to Connect's REST API (httpx's `auth=`), if any."""
    if not settings.secured:
        return None
    return "admin", read_secret(connect_password_file(settings.state_dir, "admin"))


def read_client_env(path: Path) -> dict[str, str]:
    entries: dict[str, str] = {}
    if not path.exists():
        return entries
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise StackError("security", f"{path}:{number} is not a KEY=VALUE line")
        entries[key.strip()] = value.strip()
    return entries


def write_client_env(state_dir: Path, entries: Mapping[str, str]) -> Path:
    """Merges `entries` into `client.env` (a key given again takes the new value; the others
    stay), so the Kafka and the Elasticsearch side of the launcher write the one file."""
    for key, value in entries.items():
        if not _KEY.match(key):
            raise ValueError(f"client.env key {key!r}: upper-case letters, digits and '_' only")
        if not _VALUE.match(value):
            raise ValueError(f"client.env value of {key} must need no quoting: {value!r}")
        if _looks_secret(key):
            raise ValueError(f"client.env names secret files only (..._FILE), not {key}")
    path = client_env_path(state_dir)
    merged = {**read_client_env(path), **entries}
    header = (
        "# The secured native stack, for the services: `set -a; . THIS; set +a` or a\n"
        "# Makefile's `include THIS` + `export`. Written by imgsim-stack; secrets stay in files.\n"
    )
    body = "".join(f"{key}={value}\n" for key, value in merged.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(header + body)
    partial.chmod(0o644)
    partial.replace(path)
    return path


def _looks_secret(key: str) -> bool:
    return key.endswith(("_PASSWORD", "_API_KEY", "_SECRET", "_TOKEN"))


def _write_private(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    write_private_file(path, value)


def write_private_file(path: Path, value: str) -> None:
    """Writes a file only its owner reads (0600) from its first byte: a configuration file
    that holds a secret, say."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(value)
    partial.replace(path)
