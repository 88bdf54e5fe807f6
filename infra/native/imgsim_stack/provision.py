"""Creates what the pipeline needs on a running stack: topics, index and alias, the connector.

Every step checks what is there first, so running it again changes nothing. docker-compose's
init service runs the same code against the containers.
"""

import time
from collections.abc import Callable
from typing import Any

import httpx
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
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
    compacted = {"cleanup.policy": "compact"}
    return [
        NewTopic(names.IMAGE_PATHS_TOPIC, settings.image_paths_partitions, 1),
        NewTopic(names.IMAGE_PATHS_DLQ_TOPIC, 1, 1),
        # Compacted: the latest vector record of every painting is kept for replays.
        NewTopic(names.PAINTINGS_TOPIC, settings.paintings_partitions, 1, config=compacted),
        NewTopic(names.PAINTINGS_DLQ_TOPIC, 1, 1),
    ]


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
