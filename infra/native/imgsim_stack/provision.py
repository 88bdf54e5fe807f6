"""Creates what the pipeline needs on a running stack: topics, index and alias, the connector.

Every step checks what is there first, so running it again changes nothing. docker-compose's
init service runs the same code against the containers.
"""

import time
from collections.abc import Callable
from typing import Any

import httpx
from confluent_kafka import KafkaException

# Public names whose stubs do not re-export them.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)
from confluent_kafka.cimpl import NewTopic
from elasticsearch import Elasticsearch
from imgsim_common import mapping, names
from imgsim_common.representations import METRICS, VECTORS_FIELD

from imgsim_stack.components import CONNECTOR_CLASS
from imgsim_stack.errors import StackError
from imgsim_stack.settings import StackSettings

Report = Callable[[str], None]

PAINTING_CONVERTER = "io.imgsim.connect.converters.PaintingConverter"


def topics(settings: StackSettings) -> list[NewTopic]:
    # The active segment is never compacted: with Kafka's 1 GiB default, a whole collection's
    # re-ingestion (~420 MB for 75,000 paintings) would stay uncompacted, and every replay and
    # reconciliation would read each painting twice.
    compacted = {"cleanup.policy": "compact", "segment.bytes": str(64 * 2**20)}
    # Kept for ever: the checker proves every id ever published has an outcome, so the
    # publications and the dead letters must stay (a few hundred bytes an image). `image-paths`
    # cannot be compacted instead: a plain path may come without a key.
    kept = {"retention.ms": "-1"}
    return [
        NewTopic(names.IMAGE_PATHS_TOPIC, settings.image_paths_partitions, 1, config=kept),
        NewTopic(names.IMAGE_PATHS_DLQ_TOPIC, 1, 1, config=kept),
        # Compacted: the latest vector record of every painting is kept for replays.
        NewTopic(names.PAINTINGS_TOPIC, settings.paintings_partitions, 1, config=compacted),
        NewTopic(names.PAINTINGS_DLQ_TOPIC, 1, 1, config=kept),
    ]


def _keep_config(admin: AdminClient, wanted: NewTopic) -> None:
    """Sets a topic's configuration to what `topics()` asks (a topic made by an older release)."""
    if not wanted.config:
        return
    resource = ConfigResource(
        ResourceType.TOPIC,
        wanted.topic,
        incremental_configs=[
            ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
            for name, value in wanted.config.items()
        ],
    )
    for future in admin.incremental_alter_configs([resource]).values():
        try:
            future.result()
        except KafkaException as e:
            raise StackError("kafka", f"cannot configure topic {wanted.topic}: {e}") from e


def create_topics(settings: StackSettings, report: Report) -> None:
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    existing = admin.list_topics(timeout=10).topics
    missing = [t for t in topics(settings) if t.topic not in existing]
    for name, future in (admin.create_topics(missing) if missing else {}).items():
        try:
            future.result()
        except KafkaException as e:
            if e.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise StackError("kafka", f"cannot create topic {name}: {e}") from e
        report(f"created topic {name}")
    for wanted in topics(settings):
        if wanted.topic in existing:
            _keep_config(admin, wanted)
            partitions = len(existing[wanted.topic].partitions)
            report(f"topic {wanted.topic} exists ({partitions} partitions)")


def install_index(settings: StackSettings, report: Report) -> None:
    es = Elasticsearch(settings.elasticsearch, request_timeout=30)
    try:
        es.indices.put_index_template(
            name=names.PAINTINGS_TEMPLATE,
            body=mapping.index_template(
                shards=settings.index_shards,
                replicas=settings.index_replicas,
                index_options=settings.vector_index_options,
            ),
        )
        report(f"index template {names.PAINTINGS_TEMPLATE} installed")
        if es.indices.exists_alias(name=names.PAINTINGS_ALIAS):
            indices = sorted(es.indices.get_alias(name=names.PAINTINGS_ALIAS))
            report(f"alias {names.PAINTINGS_ALIAS} exists -> {', '.join(indices)}")
            return
        if es.indices.exists(index=names.PAINTINGS_ALIAS):
            raise StackError(
                "elasticsearch",
                f"a concrete index named {names.PAINTINGS_ALIAS!r} is in the way of the alias; "
                "delete it and run provisioning again",
            )
        es.indices.create(
            index=names.INITIAL_PAINTINGS_INDEX,
            aliases={names.PAINTINGS_ALIAS: {"is_write_index": True}},
        )
        report(
            f"index {names.INITIAL_PAINTINGS_INDEX} created behind alias {names.PAINTINGS_ALIAS}"
        )
    finally:
        es.close()


def connector_config(settings: StackSettings) -> dict[str, str]:
    return {
        "connector.class": CONNECTOR_CLASS,
        "tasks.max": str(settings.connect_tasks),
        "topics": names.PAINTINGS_TOPIC,
        "connection.urls": settings.elasticsearch_for_connector,
        "index": names.PAINTINGS_ALIAS,
        "require.alias": "true",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        # Reads every version of the paintings contract (JSON, CBOR with float32 vectors) into
        # one schemaless map; version 1 through Kafka's JsonConverter with these settings.
        "value.converter": PAINTING_CONVERTER,
        "value.converter.schemas.enable": "false",
        # A record that cannot be converted, transformed or indexed goes to the dead-letter
        # topic with the reason in its headers; the task keeps running.
        "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": names.PAINTINGS_DLQ_TOPIC,
        "errors.deadletterqueue.topic.replication.factor": "1",
        "errors.deadletterqueue.context.headers.enable": "true",
        "errors.log.enable": "true",
        "errors.log.include.messages": "false",
        "transforms": "vectors",
        "transforms.vectors.type": "io.imgsim.connect.transforms.VectorsByMetric",
        "transforms.vectors.field": VECTORS_FIELD,
        "transforms.vectors.metrics": ",".join(m.value for m in METRICS),
        "consumer.override.auto.offset.reset": "earliest",
    }


def register_connector(settings: StackSettings, report: Report, timeout_s: float = 60) -> None:
    url = f"{settings.connect}/connectors/{names.SINK_CONNECTOR}"
    with httpx.Client(timeout=30) as http:
        response = http.put(f"{url}/config", json=connector_config(settings))
        if response.status_code not in (200, 201):
            raise StackError(
                "connect",
                f"registering {names.SINK_CONNECTOR} failed ({response.status_code}): "
                f"{response.text[:500]}",
            )
        report(
            f"connector {names.SINK_CONNECTOR} "
            f"{'registered' if response.status_code == 201 else 'configuration up to date'}"
        )
        status = wait_connector_running(http, url, timeout_s)
        report(f"connector {names.SINK_CONNECTOR} RUNNING with {len(status['tasks'])} task(s)")


def wait_connector_running(http: httpx.Client, url: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = http.get(f"{url}/status")
        if response.status_code == 200:
            status = response.json()
            states = [status["connector"]["state"], *(t["state"] for t in status["tasks"])]
            if "FAILED" in states:
                trace = next((t.get("trace", "") for t in status["tasks"] if t.get("trace")), "")
                raise StackError("connect", f"connector failed: {trace[:800]}")
            if status["tasks"] and all(state == "RUNNING" for state in states):
                return status
        time.sleep(0.5)
    raise StackError("connect", f"connector not RUNNING after {timeout_s:.0f} s: {status}")


def provision(settings: StackSettings, report: Report) -> None:
    create_topics(settings, report)
    install_index(settings, report)
    register_connector(settings, report)
