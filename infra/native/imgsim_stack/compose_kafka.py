"""The broker of the secured compose stack: the native secured broker
(kafka_security.broker_properties: SASL_SSL with SCRAM-SHA-512, the controller on mutual TLS)
with a second SASL_SSL listener for the host, and its storage format with every SCRAM user.

docker-compose.yml starts the apache/kafka image on these files instead of its environment
variables: its entrypoint formats the storage without SCRAM users and cannot take the broker's
PEM key. The password-bearing files stay in the broker's own volume; the format's arguments go
in a Java argument file (`kafka-run-class.sh @file`), so no password is ever on a command line.
"""

import base64
import uuid

from imgsim_stack import certificates, credentials, kafka_security
from imgsim_stack.components import SINGLE_NODE_BROKER, render_properties
from imgsim_stack.credentials import SCRAM_MECHANISM
from imgsim_stack.settings import StackSettings

# The services' listener inside the compose network, the controller's, and the host's, which
# docker-compose.yml publishes on 127.0.0.1:29092 only.
INTERNAL = "kafka:9092"
CONTROLLER = "kafka:9093"
HOST_PORT = 29092
DATA_DIR = "/var/lib/kafka/data"

SERVER_PROPERTIES = "kafka/server.properties"
FORMAT_ARGUMENTS = "kafka/format.args"
# The health check's login (`kafka-broker-api-versions.sh --command-config`).
ADMIN_CLIENT = "kafka/admin-client.properties"
CLUSTER_ID = "kafka/cluster-id"


def broker_files() -> tuple[str, ...]:
    """The broker's files, relative to the security directory."""
    return (SERVER_PROPERTIES, FORMAT_ARGUMENTS, ADMIN_CLIENT)


def broker_properties(settings: StackSettings) -> dict[str, object]:
    secured = kafka_security.broker_properties(
        settings, certificates.stack_certificates(settings.state_dir)
    )
    internal_host, internal_port = INTERNAL.rsplit(":", 1)
    controller_port = CONTROLLER.rsplit(":", 1)[1]
    return {
        "process.roles": "broker,controller",
        "node.id": 1,
        "controller.quorum.voters": f"1@{CONTROLLER}",
        "log.dirs": DATA_DIR,
        **SINGLE_NODE_BROKER,
        **secured,
        # The native broker listens on one address; this one on every interface of its
        # container, advertised by name to the compose network and as localhost to the host.
        "listeners": f"SASL_SSL://:{internal_port},CONTROLLER://:{controller_port},"
        f"HOST://:{HOST_PORT}",
        "advertised.listeners": f"SASL_SSL://{internal_host}:{internal_port},"
        f"HOST://localhost:{HOST_PORT}",
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SSL,HOST:SASL_SSL",
        # The host's clients log in like the services: SCRAM, checked against the same users.
        "listener.name.host.scram-sha-512.sasl.jaas.config": (
            f"{kafka_security.SCRAM_LOGIN} required;"
        ),
    }


def format_arguments(settings: StackSettings, cluster_id: str) -> list[str]:
    """`kafka-storage format` with every SCRAM user: Connect logs in before `init` runs, so the
    users cannot wait for the launcher's `kafka_security.ensure_users`."""
    state = settings.state_dir
    scram: list[str] = []
    for user in credentials.KAFKA_USERS:
        password = credentials.read_secret(credentials.kafka_password_file(state, user))
        scram += ["--add-scram", f"{SCRAM_MECHANISM}=[name={user},password={password}]"]
    return [
        "kafka.tools.StorageTool",
        "format",
        "-t",
        cluster_id,
        "-c",
        str(certificates.security_dir(state) / SERVER_PROPERTIES),
        *scram,
    ]


def admin_client_properties(settings: StackSettings) -> dict[str, object]:
    state = settings.state_dir
    password = credentials.read_secret(credentials.kafka_password_file(state, "admin"))
    return {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": SCRAM_MECHANISM,
        "sasl.jaas.config": (
            f'{kafka_security.SCRAM_LOGIN} required username="admin" password="{password}";'
        ),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": certificates.stack_certificates(state).ca_certificate,
    }


def write_broker_files(settings: StackSettings) -> None:
    security = certificates.security_dir(settings.state_dir)
    (security / "kafka").mkdir(mode=0o700, exist_ok=True)
    cluster_id_file = security / CLUSTER_ID
    if not cluster_id_file.exists():
        # Made once: the storage keeps the id it was formatted with.
        cluster_id_file.write_text(
            base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        )
    cluster_id = cluster_id_file.read_text().strip()
    credentials.write_private_file(
        security / SERVER_PROPERTIES, render_properties(broker_properties(settings))
    )
    credentials.write_private_file(
        security / FORMAT_ARGUMENTS, "\n".join(format_arguments(settings, cluster_id)) + "\n"
    )
    credentials.write_private_file(
        security / ADMIN_CLIENT, render_properties(admin_client_properties(settings))
    )
