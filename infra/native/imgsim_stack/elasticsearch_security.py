"""Elasticsearch in the secured stack: HTTP over TLS with the stack's CA, the `elastic`
password, and one file-realm user per role of the product.

The launcher's Elasticsearch (the integ-test zip) has no `analysis-common` module, which the
`.security` index's mapping needs, so API keys, native users and native roles cannot be made on
it (`POST /_security/api_key` answers 400 `Unknown filter type [pattern_capture]`). Roles live
in `roles.yml`, users in the file realm (`users`, `users_roles`), all in Elasticsearch's config
directory; their passwords in the stack's secret files. No password is ever on a command line:
the tools read them on standard input.
"""

import hashlib
import os
import shutil
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from imgsim_stack import credentials
from imgsim_stack.certificates import stack_certificates
from imgsim_stack.elasticsearch_roles import ROLES, Role, roles_yml, users_roles
from imgsim_stack.errors import StackError
from imgsim_stack.settings import StackSettings

# The built-in superuser, whose password the keystore sets (`bootstrap.password`).
SUPERUSER = "elastic"
# Elasticsearch reads TLS files only from inside its config directory.
CERTS = "certs"


def password_file(state_dir: Path, role: Role | str) -> Path:
    name = role if isinstance(role, str) else role.name
    return credentials.secret_file(state_dir, f"elasticsearch-{name}")


def ensure_passwords(state_dir: Path) -> None:
    """The `elastic` password and one per role's file-realm user; made once, then kept."""
    credentials.ensure_secret(state_dir, f"elasticsearch-{SUPERUSER}")
    for role in ROLES:
        credentials.ensure_secret(state_dir, f"elasticsearch-{role.name}")


def elasticsearch_yml() -> list[str]:
    return [
        "xpack.security.enabled: true",
        "xpack.security.http.ssl.enabled: true",
        f"xpack.security.http.ssl.certificate: {CERTS}/elasticsearch.pem",
        f"xpack.security.http.ssl.key: {CERTS}/elasticsearch-key.pem",
        f"xpack.security.http.ssl.certificate_authorities: [{CERTS}/ca.pem]",
        # One node on loopback needs no transport TLS, but a node bound elsewhere must have it
        # (a bootstrap check): on, with the same certificate, so IMGSIM_STACK_HOST may change.
        "xpack.security.transport.ssl.enabled: true",
        "xpack.security.transport.ssl.verification_mode: certificate",
        f"xpack.security.transport.ssl.certificate: {CERTS}/elasticsearch.pem",
        f"xpack.security.transport.ssl.key: {CERTS}/elasticsearch-key.pem",
        f"xpack.security.transport.ssl.certificate_authorities: [{CERTS}/ca.pem]",
    ]


def prepare(settings: StackSettings, config: Path, elasticsearch_home: Path) -> None:
    """Certificates, keystore, roles and users into Elasticsearch's config directory; the
    caller hands the directory to Elasticsearch's user afterwards."""
    state = settings.state_dir
    ensure_passwords(state)
    certificates = stack_certificates(state)
    certs = config / CERTS
    certs.mkdir(mode=0o750, exist_ok=True)
    server = certificates.elasticsearch
    for source, name in (
        (certificates.ca_certificate, "ca.pem"),
        (server.certificate, "elasticsearch.pem"),
        (server.key, "elasticsearch-key.pem"),
    ):
        if not source.exists():
            raise StackError("elasticsearch", f"{source} is missing: the stack's certificates")
        shutil.copyfile(source, certs / name)
        (certs / name).chmod(0o600 if name.endswith("-key.pem") else 0o644)
    tools = _Tools(settings, config, elasticsearch_home)
    keystore = config / "elasticsearch.keystore"
    if not keystore.exists():
        tools.run("elasticsearch-keystore", ["create"], SecretStr(""))
    elif keystore.stat().st_uid != os.geteuid():
        # Handed to Elasticsearch's user at the last start (as root): the tool will not change
        # a keystore's owner, so it is taken back here and handed over again by the caller.
        os.chown(keystore, os.geteuid(), -1)
    elastic = credentials.read_secret(password_file(state, SUPERUSER))
    tools.run(
        "elasticsearch-keystore", ["add", "-f", "-x", "bootstrap.password"], SecretStr(elastic)
    )
    (config / "roles.yml").write_text(roles_yml())
    ensure_users(settings, config, elasticsearch_home)


def ensure_users(settings: StackSettings, config: Path, elasticsearch_home: Path) -> bool:
    """Every role's file-realm user with the password its secret file holds (a missing file
    gets a new password: a rotation); True when the users changed. Elasticsearch re-reads the
    files within seconds, running or not."""
    ensure_passwords(settings.state_dir)
    return _ensure_users(settings.state_dir, config, _Tools(settings, config, elasticsearch_home))


def _ensure_users(state: Path, config: Path, tools: "_Tools") -> bool:
    # Hashing a password takes a JVM start (bcrypt, by Elasticsearch's own tool): done again
    # only when a password or the set of roles changed since the last time.
    passwords = {role.user: credentials.read_secret(password_file(state, role)) for role in ROLES}
    stamp = hashlib.sha256(repr(sorted(passwords.items())).encode()).hexdigest()
    stamp_file = config / "users.stamp"
    if stamp_file.exists() and stamp_file.read_text() == stamp and (config / "users").exists():
        return False
    (config / "users").write_text("")
    (config / "users_roles").write_text("")
    for role in ROLES:
        password = passwords[role.user]
        tools.run(
            "elasticsearch-users",
            ["useradd", role.user, "-r", role.elasticsearch_role],
            SecretStr(f"{password}\n{password}\n"),
        )
    # The tool orders the file its own way; the pairs must be these.
    held = set((config / "users_roles").read_text().splitlines())
    if held != set(users_roles().splitlines()):
        raise StackError("elasticsearch", f"users_roles holds {sorted(held)}, not the roles'")
    stamp_file.write_text(stamp)
    for name in ("users", "users_roles", "users.stamp"):
        # Password hashes: for Elasticsearch's user alone (the caller hands them over).
        (config / name).chmod(0o600)
    return True


class _Tools:
    """Elasticsearch's command-line tools on its config directory; secrets on stdin."""

    def __init__(self, settings: StackSettings, config: Path, elasticsearch_home: Path) -> None:
        if settings.java_home is None:
            raise StackError("elasticsearch", "no Java found: install Java 17+ or set JAVA_HOME")
        self.bin = elasticsearch_home / "bin"
        self.env = {
            "ES_JAVA_HOME": str(settings.java_home),
            "ES_PATH_CONF": str(config),
            "PATH": "/usr/bin:/bin",
        }
        self.log = settings.logs_dir / "elasticsearch-security.log"

    def run(self, tool: str, arguments: list[str], stdin: SecretStr) -> None:
        # SecretStr: a traceback (pytest's shows each frame's arguments) must not print it.
        result = subprocess.run(
            [str(self.bin / tool), *arguments],
            input=stdin.get_secret_value(),
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if result.returncode != 0:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            with self.log.open("a") as out:
                # The tools echo their prompts, never the secret read on stdin.
                out.write(f"$ {tool} {' '.join(arguments)}\n{result.stdout}{result.stderr}\n")
            raise StackError("elasticsearch", f"{tool} {arguments[0]} failed", self.log)


def ca_file(settings: StackSettings) -> Path:
    return stack_certificates(settings.state_dir).ca_certificate


def superuser_login(settings: StackSettings) -> tuple[str, str]:
    """The launcher provisions as `elastic`: making API keys and templates needs it."""
    return SUPERUSER, credentials.read_secret(password_file(settings.state_dir, SUPERUSER))


def launcher_options(settings: StackSettings) -> dict[str, Any]:
    """Keyword arguments of the launcher's elasticsearch-py client: TLS and `elastic` on a
    secured stack, the URL alone otherwise."""
    options: dict[str, Any] = {"hosts": settings.elasticsearch}
    if settings.secured:
        options["ca_certs"] = str(ca_file(settings))
        options["basic_auth"] = superuser_login(settings)
    return options


def http_options(settings: StackSettings) -> dict[str, Any]:
    """httpx's `verify=` and `auth=` for the launcher's own requests (health)."""
    if not settings.secured:
        return {}
    ca = ca_file(settings)
    if not ca.exists():
        raise StackError("elasticsearch", f"{ca} is missing: the stack's certificates")
    context = ssl.create_default_context(cafile=str(ca))
    return {"verify": context, "auth": superuser_login(settings)}


def wait_for_login(settings: StackSettings, role: Role, timeout_s: float = 30) -> None:
    """Until Elasticsearch takes a role's (new) password: it re-reads its users file every
    few seconds."""
    options = http_options(settings)
    auth = (role.user, credentials.read_secret(password_file(settings.state_dir, role)))
    deadline = time.monotonic() + timeout_s
    url = f"{settings.elasticsearch}/_security/_authenticate"
    while True:
        try:
            if httpx.get(url, verify=options["verify"], auth=auth, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise StackError("elasticsearch", f"{role.user} cannot log in after {timeout_s:.0f} s")
        time.sleep(1)
