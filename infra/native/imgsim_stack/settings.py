"""Where the native stack lives, which ports it takes and how much memory each part gets."""

import os
import shutil
from pathlib import Path
from typing import Literal

from imgsim_common import mapping
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[3]
POM = Path(__file__).resolve().parents[1] / "pom.xml"
CONNECTOR_SOURCES = REPO_ROOT / "infra" / "connector" / "src" / "main"
# The connector's own dependencies (jackson-dataformat-cbor), fetched into its plugin directory.
CONNECTOR_POM = REPO_ROOT / "infra" / "connector" / "pom.xml"


def _default_cache_dir() -> Path:
    # Elasticsearch runs as an unprivileged user when the launcher is root, and that user must
    # be able to read its installation: root's home is closed to it, /var/cache is not.
    if os.geteuid() == 0:
        return Path("/var/cache/imgsim")
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "imgsim"


def _default_java_home() -> Path | None:
    if "JAVA_HOME" in os.environ:
        return Path(os.environ["JAVA_HOME"])
    java = shutil.which("java")
    return Path(java).resolve().parents[1] if java else None


class StackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IMGSIM_STACK_", extra="forbid")

    host: str = "127.0.0.1"
    kafka_port: int = Field(9092, ge=1, le=65535)
    kafka_controller_port: int = Field(9093, ge=1, le=65535)
    connect_port: int = Field(8083, ge=1, le=65535)
    elasticsearch_port: int = Field(9200, ge=1, le=65535)
    elasticsearch_transport_port: int = Field(9300, ge=1, le=65535)
    # Debian's `prometheus`, started by `up` when installed; 0: not started.
    prometheus_port: int = Field(9090, ge=0, le=65535)

    # Overrides for a stack that runs elsewhere (docker-compose's init step reaches
    # kafka:9092, connect:8083 and elasticsearch:9200 by service name).
    kafka_bootstrap: str | None = None
    connect_url: str | None = None
    elasticsearch_url: str | None = None
    # Where the Connect worker itself reaches Elasticsearch.
    connector_elasticsearch_url: str | None = None

    cache_dir: Path = Field(default_factory=_default_cache_dir)
    state_dir: Path = REPO_ROOT / ".stack"
    java_home: Path | None = Field(default_factory=_default_java_home)
    elasticsearch_user: str = "imgsim"
    # A Maven settings.xml, e.g. with a mirror of Maven Central, for the one-time fetch.
    maven_settings: Path | None = None

    kafka_heap: str = Field("512m", pattern=r"^\d+[mg]$")
    connect_heap: str = Field("512m", pattern=r"^\d+[mg]$")
    elasticsearch_heap: str = Field("1g", pattern=r"^\d+[mg]$")

    image_paths_partitions: int = Field(6, ge=1)
    paintings_partitions: int = Field(3, ge=1)
    connect_tasks: int = Field(1, ge=1)
    index_shards: int = Field(1, ge=1)
    index_replicas: int = Field(0, ge=0)
    vector_index_options: Literal["hnsw", "int8_hnsw", "int4_hnsw", "flat", "int8_flat"] = (
        "int8_hnsw"
    )
    # The HNSW graph's links per node and candidates while building (None: Elasticsearch's own
    # 16 and 100); graph kinds only.
    vector_m: int | None = Field(None, ge=2, le=512)
    vector_ef_construction: int | None = Field(None, ge=2, le=3200)
    # A float `flat` copy of every vector field for `exact=true` (brute force); a flat index
    # is exact itself and gets none.
    vector_exact_copies: bool = True

    health_timeout_s: float = Field(180.0, gt=0)

    # "on": TLS and credentials everywhere (imgsim_stack.certificates, .credentials): Kafka's
    # client listener SASL_SSL with SCRAM, Connect's REST API behind basic auth. Another state
    # directory and other ports let a secured stack run beside the plain one.
    security: Literal["off", "on"] = "off"

    @property
    def vector_index(self) -> mapping.VectorIndex:
        return mapping.VectorIndex(
            self.vector_index_options,
            self.vector_m,
            self.vector_ef_construction,
            self.vector_exact_copies,
        )

    @field_validator("state_dir", "cache_dir")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        # The components run in their own folders: a relative path would move with them.
        return path.resolve()

    @model_validator(mode="after")
    def _distinct_ports(self) -> "StackSettings":
        ports = [
            self.kafka_port,
            self.kafka_controller_port,
            self.connect_port,
            self.elasticsearch_port,
            self.elasticsearch_transport_port,
            *([self.prometheus_port] if self.prometheus_port else []),
        ]
        if len(set(ports)) != len(ports):
            raise ValueError(f"the stack's ports must differ, got {ports}")
        return self

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap or f"{self.host}:{self.kafka_port}"

    @property
    def connect(self) -> str:
        return self.connect_url or f"http://{self.host}:{self.connect_port}"

    @property
    def elasticsearch(self) -> str:
        scheme = "https" if self.secured else "http"
        return self.elasticsearch_url or f"{scheme}://{self.host}:{self.elasticsearch_port}"

    @property
    def elasticsearch_for_connector(self) -> str:
        return self.connector_elasticsearch_url or self.elasticsearch

    @property
    def secured(self) -> bool:
        return self.security == "on"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"
