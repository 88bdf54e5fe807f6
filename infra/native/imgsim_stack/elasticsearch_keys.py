"""One Elasticsearch credential per role of the product, for the services and the sink.

Where Elasticsearch offers API keys (a full distribution: docker-compose, Elastic Cloud), each
role gets one, named `imgsim-<role>`, limited by the role's descriptor; its encoded `id:key` goes
to the secret file `elasticsearch-<role>-api-key`. A key that still authenticates is kept; one
whose file is gone or that no longer authenticates is replaced, and the older keys of that name
are invalidated first: deleting the file and provisioning again rotates it. The launcher's own
Elasticsearch cannot make API keys (see `elasticsearch_security`): there each role logs in as its
file-realm user `imgsim-<role>` with the password file `elasticsearch-<role>`.
"""

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from elasticsearch import ApiError, AuthenticationException, Elasticsearch

from imgsim_stack import credentials, elasticsearch_security
from imgsim_stack.elasticsearch_roles import ADMIN, ROLES, SINK, Role
from imgsim_stack.errors import StackError
from imgsim_stack.settings import StackSettings

Report = Callable[[str], None]

# Services reading Elasticsearch, by settings prefix, and the role each logs in with.
CLIENTS = {"SEARCH_API_": "search", "INDEXER_CHECK_": "checker"}
# The checker's second login, used only for `--repair --delete-extra` (its own role cannot delete).
ADMIN_STEM = "INDEXER_CHECK_ELASTICSEARCH_ADMIN_"


@dataclass(frozen=True)
class Login:
    """How one role proves who it is: an API key file, or a username and a password file."""

    role: Role
    api_key_file: Path | None = None
    password_file: Path | None = None

    def env(self, stem: str) -> dict[str, str]:
        """Settings such as `<stem>API_KEY_FILE`, stem `SEARCH_API_ELASTICSEARCH_`."""
        if self.api_key_file is not None:
            return {f"{stem}API_KEY_FILE": str(self.api_key_file)}
        return {f"{stem}USERNAME": self.role.user, f"{stem}PASSWORD_FILE": str(self.password_file)}

    def properties(self) -> str:
        """The sink connector's properties file (Connect's FileConfigProvider reads it)."""
        if self.api_key_file is not None:
            return f"api.key={credentials.read_secret(self.api_key_file)}\n"
        if self.password_file is None:
            raise StackError("elasticsearch", f"role {self.role.name} has no login")
        password = credentials.read_secret(self.password_file)
        return f"username={self.role.user}\npassword={password}\n"


def api_key_file(state_dir: Path, role: Role) -> Path:
    return credentials.secret_file(state_dir, f"elasticsearch-{role.name}-api-key")


# What the Connect worker reads, and nothing else: the sink's login and the CA among it.
connect_dir = credentials.connect_dir


def sink_properties(state_dir: Path) -> Path:
    return connect_dir(state_dir) / "elasticsearch-sink.properties"


def connector_ca(state_dir: Path) -> Path:
    return connect_dir(state_dir) / "ca.pem"


def _authenticates(es: Elasticsearch, encoded: str) -> bool:
    try:
        es.options(api_key=encoded).security.authenticate()
    except AuthenticationException:
        return False
    return True


def _api_key(es: Elasticsearch, state_dir: Path, role: Role, report: Report) -> Login:
    path = api_key_file(state_dir, role)
    if path.exists() and _authenticates(es, credentials.read_secret(path)):
        report(f"API key imgsim-{role.name} kept ({path})")
        return Login(role, api_key_file=path)
    name = f"imgsim-{role.name}"
    # A rotation: the replaced keys must stop working, wherever a copy of them went.
    es.security.invalidate_api_key(name=name)
    created = es.security.create_api_key(
        name=name,
        role_descriptors={role.elasticsearch_role: role.descriptor()},
        metadata={"application": "imgsim", "role": role.name},
    )
    credentials.write_secret(state_dir, path.name, str(created["encoded"]))
    report(f"API key {name} created ({path})")
    return Login(role, api_key_file=path)


def ensure_logins(es: Elasticsearch, settings: StackSettings, report: Report) -> dict[str, Login]:
    """Each role's login: API keys where Elasticsearch makes them, else file-realm users."""
    state = settings.state_dir
    logins: dict[str, Login] = {}
    try:
        for role in ROLES:
            logins[role.name] = _api_key(es, state, role, report)
    except ApiError as e:
        users = {r.name: elasticsearch_security.password_file(state, r) for r in ROLES}
        if logins or not all(path.exists() for path in users.values()):
            raise StackError("elasticsearch", f"cannot make API keys: {e.message}") from e
        report(
            "this Elasticsearch makes no API keys (the launcher's minimal distribution): "
            "each role logs in as its file-realm user imgsim-<role>"
        )
        logins = {r.name: Login(r, password_file=users[r.name]) for r in ROLES}
    return logins


def hand_out(settings: StackSettings, logins: dict[str, Login], report: Report) -> bool:
    """Writes the sink's properties and CA for Connect, and the services' lines of
    `client.env`. True when the sink's login changed (its tasks must restart to read it)."""
    state = settings.state_dir
    directory = connect_dir(state)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    shutil.copyfile(elasticsearch_security.ca_file(settings), connector_ca(state))
    target = sink_properties(state)
    wanted = logins[SINK.name].properties()
    changed = not target.exists() or target.read_text() != wanted
    if changed:
        partial = target.with_name(target.name + ".partial")
        partial.unlink(missing_ok=True)
        partial.touch(mode=0o600)
        partial.write_text(wanted)
        partial.replace(target)
    entries: dict[str, str] = {}
    for prefix, role in CLIENTS.items():
        entries |= {
            f"{prefix}ELASTICSEARCH_URL": settings.elasticsearch,
            f"{prefix}ELASTICSEARCH_CA_FILE": str(elasticsearch_security.ca_file(settings)),
            **logins[role].env(f"{prefix}ELASTICSEARCH_"),
        }
    entries |= logins[ADMIN.name].env(ADMIN_STEM)
    env = credentials.write_client_env(state, entries)
    report(f"Elasticsearch logins of the search API and the checker in {env}")
    return changed


def connector_login(settings: StackSettings) -> dict[str, str]:
    """The sink connector's TLS and login settings: placeholders that Connect's
    FileConfigProvider resolves inside the worker, so its REST API never shows the secret."""
    if not settings.secured:
        return {}
    properties = sink_properties(settings.state_dir)
    held = properties.read_text() if properties.exists() else ""
    login = {"connection.ca.file": str(connector_ca(settings.state_dir))}
    if "api.key=" in held:
        return login | {"connection.api.key": f"${{file:{properties}:api.key}}"}
    return login | {
        "connection.username": f"${{file:{properties}:username}}",
        "connection.password": f"${{file:{properties}:password}}",
    }
