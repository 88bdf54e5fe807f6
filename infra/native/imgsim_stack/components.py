"""The native stack's components: what each shares (a process, its ports, its heap), and Kafka and
Connect; Elasticsearch is in elasticsearch_node.py."""

import base64
import os
import subprocess
import uuid
from abc import ABC, abstractmethod
from pathlib import Path

import httpx
from confluent_kafka.admin import AdminClient

from imgsim_stack import certificates, credentials, kafka_security
from imgsim_stack.artifacts import Installation
from imgsim_stack.errors import StackError
from imgsim_stack.processes import ManagedProcess
from imgsim_stack.settings import StackSettings

CONNECTOR_CLASS = "io.imgsim.connect.elasticsearch.ElasticsearchSinkConnector"

_LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = warn
logger.raft.name = org.apache.kafka.raft
logger.raft.level = warn
logger.imgsim.name = io.imgsim
logger.imgsim.level = info
"""


# A single-node KRaft broker, natively and in docker-compose (imgsim_stack.compose_kafka): no
# topic made by accident, every internal topic with the one replica there is.
SINGLE_NODE_BROKER: dict[str, object] = {
    "controller.listener.names": "CONTROLLER",
    "auto.create.topics.enable": "false",
    "num.partitions": 1,
    "offsets.topic.replication.factor": 1,
    "transaction.state.log.replication.factor": 1,
    "transaction.state.log.min.isr": 1,
    "share.coordinator.state.topic.replication.factor": 1,
    "group.initial.rebalance.delay.ms": 0,
}


def render_properties(values: dict[str, object]) -> str:
    return "".join(f"{key}={value}\n" for key, value in values.items())


def worker_properties(
    bootstrap_servers: str, listener: str, advertised_host: str, plugin_path: Path | str
) -> dict[str, object]:
    """The Connect worker's configuration, natively and in docker-compose alike."""
    return {
        "bootstrap.servers": bootstrap_servers,
        "group.id": "imgsim-connect",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        "config.storage.topic": "imgsim-connect-configs",
        "offset.storage.topic": "imgsim-connect-offsets",
        "status.storage.topic": "imgsim-connect-status",
        "config.storage.replication.factor": 1,
        "offset.storage.replication.factor": 1,
        "status.storage.replication.factor": 1,
        "offset.flush.interval.ms": 5000,
        "listeners": listener,
        "rest.advertised.host.name": advertised_host,
        "plugin.path": plugin_path,
        # Connectors cannot change their clients' settings: a REST caller must not pick the
        # login module or the servers a connector's clients use (CVE-2023-25194 went that way).
        "connector.client.config.override.policy": "None",
    }


class Component(ABC):
    name: str

    def __init__(self, settings: StackSettings, install: Installation) -> None:
        self.settings = settings
        self.install = install
        self.home = settings.state_dir / self.name
        self.process = ManagedProcess(
            self.name,
            pidfile=settings.run_dir / f"{self.name}.pid",
            log=settings.logs_dir / f"{self.name}.log",
        )

    @property
    @abstractmethod
    def ports(self) -> dict[str, int]:
        """Setting name -> port, so that a clash names the setting that moves it."""

    @property
    @abstractmethod
    def heap(self) -> str:
        """The JVM heap size (-Xms = -Xmx) this component is given."""

    @abstractmethod
    def healthy(self) -> bool: ...

    @abstractmethod
    def prepare(self) -> None:
        """Writes configuration and initialises data directories; safe to run again."""

    @abstractmethod
    def command(self) -> list[str]: ...

    def environment(self) -> dict[str, str]:
        return {key: os.environ[key] for key in ("PATH", "LANG", "TZ") if key in os.environ}

    def user(self) -> str | None:
        return None

    def java(self) -> str:
        if self.settings.java_home is None:
            raise StackError(self.name, "no Java found: install Java 17+ or set JAVA_HOME")
        return str(self.settings.java_home / "bin" / "java")

    def kafka_jvm(self, main_class: str, config: Path, *options: str) -> list[str]:
        """A JVM on the fetched Kafka jars (the broker and the Connect worker)."""
        return [
            self.java(),
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.settings.logs_dir}",
            *options,
            "-cp",
            str(self.install.kafka_libs / "*"),
            main_class,
            str(config),
        ]


class Kafka(Component):
    name = "kafka"

    @property
    def heap(self) -> str:
        return self.settings.kafka_heap

    @property
    def ports(self) -> dict[str, int]:
        return {
            "IMGSIM_STACK_KAFKA_PORT": self.settings.kafka_port,
            "IMGSIM_STACK_KAFKA_CONTROLLER_PORT": self.settings.kafka_controller_port,
        }

    def healthy(self) -> bool:
        try:
            config = credentials.launcher_kafka_config(self.settings)
        except StackError:  # a secured stack never started: no password yet
            return False
        admin = AdminClient({**config, "log_level": 0})
        try:
            metadata = admin.list_topics(timeout=2)
        except Exception:  # noqa: BLE001 - any failure means "not yet"
            return False
        return len(metadata.brokers) > 0

    def prepare(self) -> None:
        s = self.settings
        data = self.home / "data"
        data.mkdir(parents=True, exist_ok=True)
        secured = (
            kafka_security.broker_properties(s, certificates.stack_certificates(s.state_dir))
            if s.secured
            else {}
        )
        # 0600: in the secured mode it holds the broker's key and its inter-broker password.
        credentials.write_private_file(
            self.home / "server.properties",
            render_properties(
                {
                    "process.roles": "broker,controller",
                    "node.id": 1,
                    "controller.quorum.voters": f"1@{s.host}:{s.kafka_controller_port}",
                    "listeners": f"PLAINTEXT://{s.host}:{s.kafka_port},"
                    f"CONTROLLER://{s.host}:{s.kafka_controller_port}",
                    "advertised.listeners": f"PLAINTEXT://{s.host}:{s.kafka_port}",
                    "inter.broker.listener.name": "PLAINTEXT",
                    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "log.dirs": data,
                    **SINGLE_NODE_BROKER,
                    **secured,
                }
            ),
        )
        (self.home / "log4j2.properties").write_text(_LOG4J2.format(level="info"))
        mode = self.home / "storage-security"
        if not (data / "meta.properties").exists():
            self._format(data)
            mode.write_text(s.security)
        # A broker formatted plain has no SCRAM admin for its inter-broker login, and a secured
        # one has no plaintext listener: a state directory serves one mode only.
        formatted = mode.read_text() if mode.exists() else "off"
        if formatted != s.security:
            raise StackError(
                self.name,
                f"{data} was formatted with IMGSIM_STACK_SECURITY={formatted}; use another "
                "IMGSIM_STACK_STATE_DIR for the other mode",
            )

    def _format(self, data: Path) -> None:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        arguments = [
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(self.home / "server.properties"),
        ]
        if self.settings.secured:
            arguments += kafka_security.format_arguments(self.settings)
        # The main class and its arguments go in a Java argument file (0600, deleted after),
        # so the SCRAM password is never on a command line.
        argfile = self.home / "format.args"
        credentials.write_private_file(argfile, "\n".join(arguments) + "\n")
        try:
            result = subprocess.run(
                [
                    self.java(),
                    "-cp",
                    str(self.install.kafka_libs / "*"),
                    f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
                    f"@{argfile}",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            argfile.unlink(missing_ok=True)
        if result.returncode != 0:
            output = result.stdout + result.stderr
            if self.settings.secured:
                admin = credentials.kafka_password_file(self.settings.state_dir, "admin")
                output = output.replace(credentials.read_secret(admin), "[hidden]")
            with self.process.log.open("a") as log:
                log.write(output)
            raise StackError(self.name, "formatting the KRaft storage failed", self.process.log)

    def command(self) -> list[str]:
        return self.kafka_jvm("kafka.Kafka", self.home / "server.properties")


class Connect(Component):
    name = "connect"

    @property
    def heap(self) -> str:
        return self.settings.connect_heap

    @property
    def ports(self) -> dict[str, int]:
        return {"IMGSIM_STACK_CONNECT_PORT": self.settings.connect_port}

    def healthy(self) -> bool:
        try:
            auth = credentials.launcher_connect_auth(self.settings)
            plugins = httpx.get(f"{self.settings.connect}/connector-plugins", auth=auth, timeout=2)
        except (httpx.HTTPError, StackError):
            return False
        return plugins.status_code == 200 and any(
            p.get("class") == CONNECTOR_CLASS for p in plugins.json()
        )

    def runs_an_older_plugin(self) -> bool:
        """Running, but started on another build of the sink plugin than the installed one: the
        worker loads its plugins once, so it must restart to run changed connector sources."""
        properties = self.home / "connect-distributed.properties"
        if not self.process.alive() or not properties.exists():
            return False
        return f"plugin.path={self.install.plugin_dir}\n" not in properties.read_text()

    @property
    def rest_jaas(self) -> Path:
        return self.home / "rest-jaas.conf"

    def prepare(self) -> None:
        s = self.settings
        self.home.mkdir(parents=True, exist_ok=True)
        values = worker_properties(
            s.bootstrap_servers,
            f"http://{s.host}:{s.connect_port}",
            s.host,
            self.install.plugin_dir,
        )
        if s.secured:
            values |= kafka_security.worker_properties(
                s, certificates.stack_certificates(s.state_dir)
            )
            kafka_security.hand_connect_its_password(s)
            users = self.home / "rest-users.properties"
            credentials.write_private_file(users, kafka_security.rest_users(s))
            credentials.write_private_file(self.rest_jaas, kafka_security.rest_jaas(users))
        credentials.write_private_file(
            self.home / "connect-distributed.properties", render_properties(values)
        )
        (self.home / "log4j2.properties").write_text(_LOG4J2.format(level="info"))

    def command(self) -> list[str]:
        # The JAAS file's path only: the users and passwords stay in the file it names.
        login = (
            [f"-Djava.security.auth.login.config={self.rest_jaas}"] if self.settings.secured else []
        )
        return self.kafka_jvm(
            "org.apache.kafka.connect.cli.ConnectDistributed",
            self.home / "connect-distributed.properties",
            *login,
        )
