"""The secured mode of Kafka and Connect: the broker's SASL_SSL listener and SCRAM users, the
Connect worker's own clients, and the basic-auth login of Connect's REST API.

No secret is ever an argument of a process: the broker's configuration and Connect's user file
hold them in files only root reads (0600), the worker's configuration names secret files through
Kafka's config providers, and the storage format's SCRAM user comes in a Java argument file.
"""

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path

from confluent_kafka import KafkaException

# Public names whose stubs do not re-export them.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialUpsertion,
)

from imgsim_stack import credentials
from imgsim_stack.certificates import StackCertificates
from imgsim_stack.credentials import SCRAM_MECHANISM
from imgsim_stack.errors import StackError
from imgsim_stack.settings import StackSettings

Report = Callable[[str], None]

SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule"
BASIC_AUTH_EXTENSION = (
    "org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension"
)
PROPERTY_FILE_LOGIN = "org.apache.kafka.connect.rest.basic.auth.extension.PropertyFileLoginModule"
# Twice the 4096 iterations RFC 7677 asks at least (and Kafka tools use by default).
SCRAM_ITERATIONS = 8192
PROVIDERS = "org.apache.kafka.common.config.provider"
# The `connect` user's Kafka password, in Connect's own folder.
CONNECT_PASSWORD = "kafka-password"


def one_line_pem(pem: Path) -> str:
    """A file's first PEM block as one properties line (Kafka's PEM parser ignores blanks).
    Only the leaf of a chain: given the whole chain inline, Kafka 4.1 presents the CA's
    certificate with the leaf's key."""
    head, end, tail = pem.read_text().partition("-----END ")
    return " ".join((head + end + tail.split("\n", 1)[0]).split())


def broker_properties(
    settings: StackSettings, certificates: StackCertificates
) -> dict[str, object]:
    """The broker's listeners in the secured mode, merged over the plain configuration.

    Clients and the broker itself (inter-broker) use SASL_SSL with SCRAM-SHA-512 as `admin`.
    The controller listener (KRaft; SCRAM cannot authenticate there, its users live in the
    metadata it serves) takes mutual TLS: only a holder of a key the stack's CA certified gets
    in (the broker's; Elasticsearch's too, which only its own user reads).
    """
    s = settings
    password = credentials.read_secret(credentials.kafka_password_file(s.state_dir, "admin"))
    return {
        "listeners": f"SASL_SSL://{s.host}:{s.kafka_port},CONTROLLER://{s.host}:{s.kafka_controller_port}",
        "advertised.listeners": f"SASL_SSL://{s.host}:{s.kafka_port}",
        "inter.broker.listener.name": "SASL_SSL",
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SSL",
        "sasl.enabled.mechanisms": SCRAM_MECHANISM,
        "sasl.mechanism.inter.broker.protocol": SCRAM_MECHANISM,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": _jaas(
            SCRAM_LOGIN, "admin", password
        ),
        "ssl.keystore.type": "PEM",
        "ssl.keystore.certificate.chain": one_line_pem(certificates.kafka.certificate),
        "ssl.keystore.key": one_line_pem(certificates.kafka.key),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": certificates.ca_certificate,
        "listener.name.controller.ssl.client.auth": "required",
    }


def format_arguments(settings: StackSettings) -> list[str]:
    """`kafka-storage format`'s SCRAM user, for a Java argument file (`java @file`), never the
    command line: the broker's own `admin`, which the inter-broker login needs from the start.
    The other users are added once the broker runs (`ensure_users`)."""
    password = credentials.read_secret(credentials.kafka_password_file(settings.state_dir, "admin"))
    return ["--add-scram", f"{SCRAM_MECHANISM}=[name=admin,password={password}]"]


def ensure_users(settings: StackSettings, report: Report) -> None:
    """Creates the SCRAM users the broker lacks, logging in as `admin`."""
    admin = AdminClient({**credentials.launcher_kafka_config(settings), "log_level": 3})
    created = create_scram_users(admin, settings.state_dir)
    if created:
        report(f"kafka SCRAM users created: {', '.join(created)}")


def create_scram_users(
    admin: AdminClient, state_dir: Path, users: Sequence[str] = credentials.KAFKA_USERS
) -> list[str]:
    """Creates those of `users` the broker lacks, each with its password from `secrets/`; a
    user already there keeps its credential, so running clients stay in. The users created."""
    try:
        described = admin.describe_user_scram_credentials()
        assert isinstance(described, Future)  # all users: one future (confluent-kafka's API)
        held = set(described.result(timeout=30))
    except KafkaException as e:
        raise StackError("kafka", f"cannot list SCRAM users: {e}") from e
    missing = [user for user in users if user not in held]
    upserts: list[UserScramCredentialAlteration] = [
        UserScramCredentialUpsertion(
            user,
            ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS),
            credentials.read_secret(credentials.kafka_password_file(state_dir, user)).encode(),
        )
        for user in missing
    ]
    for user, future in (admin.alter_user_scram_credentials(upserts) if upserts else {}).items():
        try:
            future.result(timeout=30)
        except KafkaException as e:
            raise StackError("kafka", f"cannot create SCRAM user {user}: {e}") from e
    return missing


def worker_properties(
    settings: StackSettings, certificates: StackCertificates
) -> dict[str, object]:
    """The Connect worker's secured additions: its clients (the worker's own, and the
    producers, consumers and admins of its connectors) log in as `connect` over TLS; its REST
    API asks for basic auth. Secrets are read through config providers that may open only
    Connect's own folder (`credentials.connect_dir`), so neither this file nor a connector's
    configuration (`${file:<connect dir>/x.properties:key}`, `${dir:<connect dir>:name}`)
    shows them, and no connector can name another file to read."""
    own = credentials.connect_dir(settings.state_dir)
    password = f"${{dir:{own}:{CONNECT_PASSWORD}}}"
    client = {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": SCRAM_MECHANISM,
        "sasl.jaas.config": _jaas(SCRAM_LOGIN, "connect", password),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": certificates.ca_certificate,
    }
    prefixed = {
        f"{prefix}.{key}": value
        for prefix in ("producer", "consumer", "admin")
        for key, value in client.items()
    }
    return {
        **client,
        **prefixed,
        "config.providers": "file,dir",
        "config.providers.file.class": f"{PROVIDERS}.FileConfigProvider",
        "config.providers.file.param.allowed.paths": own,
        "config.providers.dir.class": f"{PROVIDERS}.DirectoryConfigProvider",
        "config.providers.dir.param.allowed.paths": own,
        "rest.extension.classes": BASIC_AUTH_EXTENSION,
    }


def hand_connect_its_password(settings: StackSettings) -> None:
    """Copies the `connect` user's Kafka password into Connect's own folder (0700/0600)."""
    state = settings.state_dir
    own = credentials.connect_dir(state)
    own.mkdir(parents=True, exist_ok=True)
    own.chmod(0o700)
    password = credentials.read_secret(credentials.kafka_password_file(state, "connect"))
    credentials.write_private_file(own / CONNECT_PASSWORD, password)


def rest_users(settings: StackSettings) -> str:
    """Connect's REST users file (`user=password` lines), read by PropertyFileLoginModule."""
    state = settings.state_dir
    return "".join(
        f"{user}={credentials.read_secret(credentials.connect_password_file(state, user))}\n"
        for user in credentials.CONNECT_REST_USERS
    )


def rest_jaas(users_file: Path) -> str:
    """The JAAS file naming the users file; the JVM gets only this file's path."""
    return f'KafkaConnect {{\n  {PROPERTY_FILE_LOGIN} required\n  file="{users_file}";\n}};\n'


def _jaas(module: str, user: str, password: str) -> str:
    return f'{module} required username="{user}" password="{password}";'
