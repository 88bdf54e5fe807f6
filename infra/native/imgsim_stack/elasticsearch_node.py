"""The native stack's Elasticsearch node: its own user (it refuses to run as root), its data
where that user may write, its security files, and how it is run and checked."""

import grp
import hashlib
import os
import pwd
import shutil
import subprocess
from pathlib import Path

import httpx

from imgsim_stack import elasticsearch_security
from imgsim_stack.artifacts import Installation
from imgsim_stack.components import Component
from imgsim_stack.errors import StackError
from imgsim_stack.settings import StackSettings

# Where Elasticsearch keeps its data when the state directory is closed to its user.
ELASTICSEARCH_FALLBACK_ROOT = Path("/var/lib/imgsim")


class Elasticsearch(Component):
    name = "elasticsearch"

    def __init__(self, settings: StackSettings, install: Installation) -> None:
        super().__init__(settings, install)
        if self.user() is not None and not _world_enterable(self.home):
            # The unprivileged user cannot reach a state directory inside a private folder
            # (a `mktemp -d` checkout, say): its data, config and logs go where it can.
            digest = hashlib.sha1(str(settings.state_dir.resolve()).encode()).hexdigest()[:12]
            self.home = ELASTICSEARCH_FALLBACK_ROOT / digest / self.name

    @property
    def heap(self) -> str:
        return self.settings.elasticsearch_heap

    @property
    def ports(self) -> dict[str, int]:
        return {
            "IMGSIM_STACK_ELASTICSEARCH_PORT": self.settings.elasticsearch_port,
            "IMGSIM_STACK_ELASTICSEARCH_TRANSPORT_PORT": self.settings.elasticsearch_transport_port,
        }

    def healthy(self) -> bool:
        try:
            health = httpx.get(
                f"{self.settings.elasticsearch}/_cluster/health",
                params={"wait_for_status": "yellow", "timeout": "1s"},
                timeout=3,
                **elasticsearch_security.http_options(self.settings),
            )
        except (httpx.HTTPError, StackError):
            # StackError: a secured stack's login is not written yet.
            return False
        return health.status_code == 200 and health.json().get("status") in ("green", "yellow")

    def refresh_users(self) -> bool:
        """Secured: each role's file-realm user as its password file says (a deleted file makes
        a new password: a rotation); True when they changed. Elasticsearch re-reads them."""
        config = self.home / "config"
        changed = elasticsearch_security.ensure_users(
            self.settings, config, self.install.elasticsearch_home
        )
        user = self.user()
        if changed and user is not None:
            entry = pwd.getpwnam(user)
            for name in ("users", "users_roles", "users.stamp"):
                os.chown(config / name, entry.pw_uid, entry.pw_gid)
        return changed

    def user(self) -> str | None:
        # Elasticsearch refuses to run as root.
        return self.settings.elasticsearch_user if os.geteuid() == 0 else None

    def _ensure_user(self, name: str) -> None:
        try:
            pwd.getpwnam(name)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                check=True,
                capture_output=True,
            )

    def prepare(self) -> None:
        s = self.settings
        config, data, logs = self.home / "config", self.home / "data", self.home / "logs"
        for directory in (config / "jvm.options.d", data, logs):
            directory.mkdir(parents=True, exist_ok=True)
        shipped = self.install.elasticsearch_home / "config"
        for name in ("jvm.options", "log4j2.properties"):
            shutil.copy(shipped / name, config / name)
        (config / "elasticsearch.yml").write_text(
            "\n".join(
                [
                    "cluster.name: imgsim",
                    "node.name: imgsim-1",
                    "discovery.type: single-node",
                    f"network.host: {s.host}",
                    f"http.port: {s.elasticsearch_port}",
                    f"transport.port: {s.elasticsearch_transport_port}",
                    f"path.data: {data}",
                    f"path.logs: {logs}",
                    # Plain: a local single node for development and tests, no TLS, no passwords.
                    *(
                        elasticsearch_security.elasticsearch_yml()
                        if s.secured
                        else ["xpack.security.enabled: false"]
                    ),
                    # A nearly full disk must not turn the test index read-only.
                    "cluster.routing.allocation.disk.threshold_enabled: false",
                    "",
                ]
            )
        )
        heap = self.heap
        (config / "jvm.options.d" / "heap.options").write_text(f"-Xms{heap}\n-Xmx{heap}\n")
        if s.secured:
            elasticsearch_security.prepare(s, config, self.install.elasticsearch_home)
        user = self.user()
        if user is not None:
            self._ensure_user(user)
            entry = pwd.getpwnam(user)
            for directory in (self.home, config, config / "jvm.options.d", data, logs):
                os.chown(directory, entry.pw_uid, entry.pw_gid)
            for path in [*config.rglob("*"), *data.rglob("*"), *logs.rglob("*")]:
                os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
            _check_readable(self.install.elasticsearch_home, user, self.name)
            _check_readable(self.home, user, self.name)

    def environment(self) -> dict[str, str]:
        env = super().environment()
        if self.settings.java_home is None:
            raise StackError(self.name, "no Java found: install Java 17+ or set JAVA_HOME")
        env.update(
            ES_JAVA_HOME=str(self.settings.java_home),
            ES_PATH_CONF=str(self.home / "config"),
            HOME=str(self.home),
        )
        return env

    def command(self) -> list[str]:
        return [str(self.install.elasticsearch_home / "bin" / "elasticsearch")]


def _world_enterable(path: Path) -> bool:
    """Every existing directory on the way to `path` lets any user through."""
    return all(
        directory.stat().st_mode & 0o001
        for directory in [path, *path.parents]
        if directory.exists()
    )


def _check_readable(path: Path, user: str, component: str) -> None:
    entry = pwd.getpwnam(user)
    groups = {g.gr_gid for g in grp.getgrall() if user in g.gr_mem} | {entry.pw_gid}
    for directory in [path, *path.parents]:
        mode = directory.stat()
        if mode.st_uid == entry.pw_uid:
            allowed = mode.st_mode & 0o100
        elif mode.st_gid in groups:
            allowed = mode.st_mode & 0o010
        else:
            allowed = mode.st_mode & 0o001
        if not allowed:
            raise StackError(
                component,
                f"user {user!r} cannot enter {directory}; move IMGSIM_STACK_CACHE_DIR and "
                "IMGSIM_STACK_STATE_DIR to a place it can read",
            )
