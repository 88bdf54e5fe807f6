"""The consistency checker's settings: environment variables prefixed `INDEXER_CHECK_`."""

import difflib
import math
import os
from pathlib import Path
from typing import Any

from imgsim_common import names
from imgsim_common.access import (
    ConnectAccess,
    ElasticsearchAccess,
    KafkaAccess,
    load_secret_files,
)
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# A window spans this many commit intervals of its leg: shorter, and a healthy consumer between
# two commits looks stalled, and too few commits are seen to call a lag growing (WARN).
COMMITS_PER_WINDOW = 4
MIN_WINDOW_SAMPLES = 5


def window_samples(commit_interval_s: float, poll_interval_s: float) -> int:
    """Samples (one per poll) whose window spans COMMITS_PER_WINDOW commit intervals."""
    polls = math.ceil(COMMITS_PER_WINDOW * commit_interval_s / poll_interval_s)
    return max(MIN_WINDOW_SAMPLES, polls + 1)


class IndexerCheckSettings(BaseSettings, KafkaAccess, ElasticsearchAccess, ConnectAccess):
    """Kafka, Elasticsearch and Connect: addresses and credentials (`INDEXER_CHECK_KAFKA_*`,
    `_ELASTICSEARCH_*`, `_CONNECT_*`, imgsim_common.access), then the checker's own."""

    # hide_input_in_errors: a settings error would otherwise print every value read, secrets too.
    model_config = SettingsConfigDict(
        env_prefix="INDEXER_CHECK_", extra="forbid", hide_input_in_errors=True
    )

    # The checker's own key reads; deleting extra documents (`--repair --delete-extra`), which
    # only a person asks for, takes the administration key (or user: a cluster without API keys,
    # such as the native stack's) when the cluster is secured.
    elasticsearch_admin_api_key: SecretStr | None = None
    elasticsearch_admin_api_key_file: Path | None = None
    elasticsearch_admin_username: str = ""
    elasticsearch_admin_password: SecretStr | None = None
    elasticsearch_admin_password_file: Path | None = None

    image_paths_topic: str = names.IMAGE_PATHS_TOPIC
    paintings_topic: str = names.PAINTINGS_TOPIC
    dead_letter_topic: str = names.IMAGE_PATHS_DLQ_TOPIC
    sink_dead_letter_topic: str = names.PAINTINGS_DLQ_TOPIC
    alias: str = names.PAINTINGS_ALIAS
    vectorizer_group: str = names.VECTORIZER_GROUP
    connector: str = names.SINK_CONNECTOR
    # A trained model version: check its own pipeline (names.model_pipeline) instead of the
    # base one; it sets the five names above that differ between pipelines.
    model_version: str = ""
    # Without a model version: check the pipeline whose index the alias points at (a model
    # swap moves it to that version's index, which only that version's topic, connector and
    # consumer group fill), and the names above while it points at any other index.
    follow_alias: bool = True

    poll_interval_s: float = Field(2.0, gt=0, le=300)
    # How often each leg's consumer commits when it makes progress: faust's
    # broker_commit_interval (1 s) for the vectorizer, Connect's offset.flush.interval.ms
    # (5 s, imgsim_stack.components.worker_properties, natively and in docker-compose).
    vectorizer_commit_interval_s: float = Field(1.0, gt=0)
    sink_commit_interval_s: float = Field(5.0, gt=0)
    # Samples per window; by default derived from the commit interval and the poll interval.
    vectorizer_window: int | None = Field(None, ge=2, le=10_000)
    sink_window: int | None = Field(None, ge=2, le=10_000)
    # Lag at or under this counts as caught up (Burrow's allowed lag).
    allowed_lag: int = Field(0, ge=0)

    # Id-level reconciliation reads both topics whole and every id in the index (~3 s for
    # 75,000 paintings here): every few minutes, not every poll. 0: only when asked.
    reconcile_interval_s: float = Field(300.0, ge=0)
    scan_timeout_s: float = Field(600.0, gt=0)

    host: str = "127.0.0.1"
    port: int = Field(9465, ge=1, le=65535)
    request_timeout_s: float = Field(5.0, gt=0, le=120)
    # The service's actions (POST /reconcile, /repair, /retry-dead-letters) answer only a caller
    # that sends `Authorization: Bearer <token>`; unset: they are refused (403), and
    # `imgsim check` runs them in its own process instead. `_FILE`: a file that holds it.
    admin_token: SecretStr | None = None
    admin_token_file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_unknown_variables(cls, values: Any) -> Any:
        # pydantic-settings ignores a prefixed variable that names no setting: a misspelt one
        # would silently leave its default in place.
        prefix = "INDEXER_CHECK_"
        known = {name.upper() for name in cls.model_fields}
        for variable in os.environ:
            name = variable.upper()
            if name.startswith(prefix) and name[len(prefix) :] not in known:
                close = difflib.get_close_matches(name[len(prefix) :], known, n=1)
                hint = f"; did you mean {prefix}{close[0]}?" if close else ""
                raise ValueError(f"{variable} is not a setting of the checker{hint}")
        return values

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _host_ports(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"{server!r} is not HOST:PORT (e.g. 127.0.0.1:9092)")
        return value

    @model_validator(mode="after")
    def _windows_cover_commits(self) -> "IndexerCheckSettings":
        for leg, commit_s in (
            ("vectorizer", self.vectorizer_commit_interval_s),
            ("sink", self.sink_commit_interval_s),
        ):
            samples = getattr(self, f"{leg}_window")
            if samples is not None and (samples - 1) * self.poll_interval_s < commit_s:
                raise ValueError(
                    f"INDEXER_CHECK_{leg.upper()}_WINDOW={samples} samples at a "
                    f"{self.poll_interval_s} s poll interval span less than one commit interval "
                    f"({commit_s} s): a healthy leg would look stalled"
                )
        return self

    @property
    def vectorizer_window_samples(self) -> int:
        return self.vectorizer_window or window_samples(
            self.vectorizer_commit_interval_s, self.poll_interval_s
        )

    @property
    def sink_window_samples(self) -> int:
        return self.sink_window or window_samples(self.sink_commit_interval_s, self.poll_interval_s)

    @model_validator(mode="after")
    def _admin_token_from_file(self) -> "IndexerCheckSettings":
        if self.admin_token is not None and not self.admin_token.get_secret_value():
            self.admin_token = None  # set but empty: no token, not an empty one
        load_secret_files(self, ("admin_token",))
        return self

    @model_validator(mode="after")
    def _admin_secrets(self) -> "IndexerCheckSettings":
        load_secret_files(self, ("elasticsearch_admin_api_key", "elasticsearch_admin_password"))
        if bool(self.elasticsearch_admin_username) != (
            self.elasticsearch_admin_password is not None
        ):
            raise ValueError(
                "elasticsearch_admin_username and elasticsearch_admin_password go together"
            )
        return self

    @property
    def elasticsearch_admin(self) -> bool:
        return (
            self.elasticsearch_admin_api_key is not None
            or self.elasticsearch_admin_password is not None
        )

    def elasticsearch_admin_options(self) -> dict[str, Any]:
        """The checker's Elasticsearch options with the administration credentials, when any."""
        options = self.elasticsearch_options()
        if self.elasticsearch_admin:
            options.pop("basic_auth", None)
            options.pop("api_key", None)
        if self.elasticsearch_admin_api_key is not None:
            options["api_key"] = self.elasticsearch_admin_api_key.get_secret_value()
        elif self.elasticsearch_admin_password is not None:
            password = self.elasticsearch_admin_password.get_secret_value()
            options["basic_auth"] = (self.elasticsearch_admin_username, password)
        return options

    @property
    def sink_group(self) -> str:
        # Kafka Connect names a sink connector's consumer group after the connector.
        return f"connect-{self.connector}"

    @model_validator(mode="after")
    def _model_pipeline(self) -> "IndexerCheckSettings":
        if self.model_version:
            for name, value in self._pipeline_names(
                names.model_pipeline(self.model_version)
            ).items():
                setattr(self, name, value)
        return self

    @staticmethod
    def _pipeline_names(pipeline: names.ModelPipeline) -> dict[str, str]:
        return {
            "paintings_topic": pipeline.topic,
            "sink_dead_letter_topic": pipeline.sink_dead_letter_topic,
            "alias": pipeline.index,
            "vectorizer_group": pipeline.consumer_group,
            "connector": pipeline.connector,
        }

    def for_pipeline(self, pipeline: names.ModelPipeline) -> "IndexerCheckSettings":
        """These settings aimed at one model version's pipeline (its topic, group, index)."""
        return self.model_copy(update={**self._pipeline_names(pipeline), "follow_alias": False})

    def following(self, pipeline: names.ModelPipeline) -> "IndexerCheckSettings":
        """These settings aimed at the pipeline the alias points at, the alias kept: the checker
        still reports (and reconciles) what is searched through it."""
        update = self._pipeline_names(pipeline)
        del update["alias"]
        return self.model_copy(update=update)
