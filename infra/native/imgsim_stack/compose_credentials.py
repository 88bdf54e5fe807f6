"""docker-compose's secured stack: the native secured mode's CA, certificates and secrets
(imgsim_stack.certificates, .credentials, .elasticsearch_security, .kafka_security), handed out
so that each container holds only the files it reads.

The whole security directory (the CA's key, every password and API key) lives in the `security`
volume, which only the one-shot `credentials` and `init` services mount. Every other container
gets a volume of its own, mounted at the same place, holding only its files at the same paths
(`<state>/security/ca.pem`, `secrets/<name>`): the paths the launcher's functions compute hold
in that container too. `credentials` hands out what must be there before Elasticsearch, Kafka
and Connect start; `init` hands out the services' files after provisioning made their API keys.
"""

import base64
import secrets
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from imgsim_stack import certificates, credentials, elasticsearch_security, kafka_security
from imgsim_stack.components import worker_properties
from imgsim_stack.compose_kafka import INTERNAL, broker_files, write_broker_files
from imgsim_stack.elasticsearch_keys import api_key_file
from imgsim_stack.elasticsearch_roles import CHECKER, SEARCH
from imgsim_stack.errors import StackError
from imgsim_stack.settings import StackSettings

Report = Callable[[str], None]

# Where docker-compose.yml mounts the volumes. The Dockerfile makes these directories, owned by
# the services' user: Docker gives a new volume the owner of the directory it is mounted on.
STATE_DIR = Path("/var/lib/imgsim/stack")
HAND_OUT_ROOT = Path("/var/lib/imgsim/hand-out")
# The names the containers reach the servers by, in the servers' certificates.
SERVER_HOSTS = ("kafka", "elasticsearch")
CONNECT_URL = "http://connect:8083"
ELASTICSEARCH_URL = "https://elasticsearch:9200"

# Tokens of the services' own guards: the embedding endpoint's, and the checker's admin actions.
EMBEDDING_TOKEN = "embedding-token"
CHECKER_ADMIN_TOKEN = "checker-admin-token"

CA = "ca.pem"
# Connect's REST login (basic auth): its users file, the JAAS file naming it, and the header
# of the health check, which thus needs no secret in its command.
REST_USERS = "connect-rest/rest-users.properties"
REST_JAAS = "connect-rest/rest-jaas.conf"
REST_HEALTH_AUTHORIZATION = "connect-rest/health-authorization"


def compose_settings() -> StackSettings:
    """The launcher's settings inside docker-compose (its `credentials` and `init` services)."""
    return StackSettings(
        security="on",
        state_dir=STATE_DIR,
        kafka_bootstrap=INTERNAL,
        connect_url=CONNECT_URL,
        elasticsearch_url=ELASTICSEARCH_URL,
        connector_elasticsearch_url=ELASTICSEARCH_URL,
    )


def _secret(path: Path) -> str:
    return f"secrets/{path.name}"


def _same(*paths: str) -> dict[str, str]:
    return {path: path for path in paths}


ELASTIC_PASSWORD = _secret(
    elasticsearch_security.password_file(STATE_DIR, elasticsearch_security.SUPERUSER)
)
# Each container's files: path in the security directory -> path in its own volume.
BEFORE_START: dict[str, dict[str, str]] = {
    # Mounted at Elasticsearch's config/certs: the names elasticsearch_security.elasticsearch_yml
    # gives, and the `elastic` password the image reads from ELASTIC_PASSWORD_FILE.
    "elasticsearch": {
        CA: CA,
        "elasticsearch.pem": "elasticsearch.pem",
        "elasticsearch-key.pem": "elasticsearch-key.pem",
        ELASTIC_PASSWORD: Path(ELASTIC_PASSWORD).name,
    },
    "kafka": _same(CA, *broker_files()),
    # Beside Connect's own folder (credentials.connect_dir, a volume of its own, mounted below
    # this one: its Kafka password from `credentials`, the sink's login from `init`).
    "connect": _same(CA, REST_USERS, REST_JAAS, REST_HEALTH_AUTHORIZATION),
}
# Directories a volume must hold for another volume to be mounted on them read-only.
MOUNT_POINTS = {"connect": (credentials.connect_dir(STATE_DIR).name,)}
AFTER_PROVISIONING: dict[str, dict[str, str]] = {
    "vectorizer": _same(
        CA,
        _secret(credentials.kafka_password_file(STATE_DIR, "vectorizer")),
        f"secrets/{EMBEDDING_TOKEN}",
    ),
    "search-api": _same(
        CA,
        _secret(api_key_file(STATE_DIR, SEARCH)),
        f"secrets/{EMBEDDING_TOKEN}",
    ),
    "indexer-check": _same(
        CA,
        _secret(credentials.kafka_password_file(STATE_DIR, "checker")),
        _secret(api_key_file(STATE_DIR, CHECKER)),
        _secret(credentials.connect_password_file(STATE_DIR, "checker")),
        f"secrets/{CHECKER_ADMIN_TOKEN}",
    ),
}
# Elasticsearch and Kafka run as their images' uid 1000, which this writer (the services'
# uid 10001) cannot chown to: their files are readable by any user of the one container that
# mounts the volume. The others run as 10001 and get files only their owner reads.
READ_BY_ANOTHER_UID = {"elasticsearch", "kafka"}


def make(settings: StackSettings, report: Report, hand_out_root: Path = HAND_OUT_ROOT) -> None:
    """What the stack needs before it starts, made once and kept; then handed out."""
    state = settings.state_dir
    certificates.ensure_certificates(state, SERVER_HOSTS)
    credentials.ensure_stack_secrets(state)
    elasticsearch_security.ensure_passwords(state)
    for token in (EMBEDDING_TOKEN, CHECKER_ADMIN_TOKEN):
        credentials.ensure_secret(state, token)
    write_broker_files(settings)
    kafka_security.hand_connect_its_password(settings)
    _write_rest_login(settings)
    report(f"CA, certificates and secrets in {certificates.security_dir(state)}")
    _hand_out_all(settings, BEFORE_START, hand_out_root, report)


def _write_rest_login(settings: StackSettings) -> None:
    security = certificates.security_dir(settings.state_dir)
    users = security / REST_USERS
    users.parent.mkdir(mode=0o700, exist_ok=True)
    credentials.write_private_file(users, kafka_security.rest_users(settings))
    credentials.write_private_file(security / REST_JAAS, kafka_security.rest_jaas(users))
    admin = credentials.read_secret(credentials.connect_password_file(settings.state_dir, "admin"))
    login = base64.b64encode(f"admin:{admin}".encode()).decode("ascii")
    credentials.write_private_file(security / REST_HEALTH_AUTHORIZATION, f"Basic {login}")


def connect_worker_properties(settings: StackSettings) -> dict[str, object]:
    """infra/connect/connect-distributed.properties: the launcher's worker, secured."""
    return worker_properties(
        settings.bootstrap_servers, "http://0.0.0.0:8083", "connect", "/opt/imgsim/connect-plugins"
    ) | kafka_security.worker_properties(
        settings, certificates.stack_certificates(settings.state_dir)
    )


def hand_out_to_services(
    settings: StackSettings, report: Report, hand_out_root: Path = HAND_OUT_ROOT
) -> None:
    """After provisioning: the services' files, their API keys among them."""
    _hand_out_all(settings, AFTER_PROVISIONING, hand_out_root, report)


def _hand_out_all(
    settings: StackSettings,
    recipients: dict[str, dict[str, str]],
    hand_out_root: Path,
    report: Report,
) -> None:
    security = certificates.security_dir(settings.state_dir)
    for name, files in recipients.items():
        shared = name in READ_BY_ANOTHER_UID
        volume = hand_out_root / name
        hand_out(security, volume, files, shared)
        for directory in MOUNT_POINTS.get(name, ()):
            (volume / directory).mkdir(mode=0o755, exist_ok=True)
        report(f"{name}: {len(files)} files handed out")


def hand_out(security: Path, volume: Path, files: dict[str, str], shared: bool) -> None:
    """Copies `files` into a container's own volume, replacing what an earlier run left."""
    for source, target in files.items():
        if not (security / source).is_file():
            raise StackError("security", f"{security / source} is missing: nothing to hand out")
        path = volume / target
        path.parent.mkdir(parents=True, exist_ok=True)
        for directory in [path.parent, *path.parent.parents]:
            if not directory.is_relative_to(volume):
                break
            directory.chmod(0o755 if shared else 0o700)
        partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        shutil.copyfile(security / source, partial)
        partial.chmod(0o444 if shared else 0o400)
        partial.replace(path)


COMMANDS = {"make": "before the stack starts", "hand-out": "after `imgsim-stack provision`"}


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if len(arguments) != 1 or arguments[0] not in COMMANDS:
        usage = "\n".join(f"  {name}: {when}" for name, when in COMMANDS.items())
        print(
            f"usage: python -m imgsim_stack.compose_credentials COMMAND\n{usage}", file=sys.stderr
        )
        return 2
    settings = StackSettings()
    if not settings.secured:
        print("docker-compose's stack is secured: set IMGSIM_STACK_SECURITY=on", file=sys.stderr)
        return 2
    try:
        if arguments[0] == "make":
            make(settings, print)
        else:
            hand_out_to_services(settings, print)
    except StackError as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
