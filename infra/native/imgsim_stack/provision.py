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
from elasticsearch import ApiError, Elasticsearch
from imgsim_common import mapping, names
from imgsim_common.model_card import ModelCard
from imgsim_common.representations import VECTORS_FIELD

from imgsim_stack import (
    artifacts,
    credentials,
    elasticsearch_keys,
    elasticsearch_node,
    elasticsearch_security,
    override_policy,
)
from imgsim_stack.components import CONNECTOR_CLASS
from imgsim_stack.elasticsearch_roles import ROLES
from imgsim_stack.errors import StackError
from imgsim_stack.settings import StackSettings

Report = Callable[[str], None]

PAINTING_CONVERTER = "io.imgsim.connect.converters.PaintingConverter"


# The active segment is never compacted: with Kafka's 1 GiB default, a whole collection's
# re-ingestion (~420 MB for 75,000 paintings) would stay uncompacted, and every replay and
# reconciliation would read each painting twice.
COMPACTED = {"cleanup.policy": "compact", "segment.bytes": str(64 * 2**20)}
# Kept for ever: the checker proves every id ever published has an outcome, so the publications
# and the dead letters must stay (a few hundred bytes an image). `image-paths` cannot be
# compacted instead: a plain path may come without a key. A new model version re-reads it whole.
KEPT = {"retention.ms": "-1"}


def pipeline_topics(settings: StackSettings, pipeline: names.ModelPipeline) -> list[NewTopic]:
    return [
        # Compacted: the latest vector record of every painting is kept for replays.
        NewTopic(pipeline.topic, settings.paintings_partitions, 1, config=COMPACTED),
        NewTopic(pipeline.sink_dead_letter_topic, 1, 1, config=KEPT),
    ]


def topics(settings: StackSettings) -> list[NewTopic]:
    return [
        NewTopic(names.IMAGE_PATHS_TOPIC, settings.image_paths_partitions, 1, config=KEPT),
        NewTopic(names.IMAGE_PATHS_DLQ_TOPIC, 1, 1, config=KEPT),
        *pipeline_topics(settings, names.BASE_PIPELINE),
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


def create_topics(
    settings: StackSettings, report: Report, wanted_topics: list[NewTopic] | None = None
) -> None:
    wanted_topics = topics(settings) if wanted_topics is None else wanted_topics
    admin = AdminClient(credentials.launcher_kafka_config(settings))
    existing = admin.list_topics(timeout=10).topics
    missing = [t for t in wanted_topics if t.topic not in existing]
    for name, future in (admin.create_topics(missing) if missing else {}).items():
        try:
            future.result()
        except KafkaException as e:
            if e.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise StackError("kafka", f"cannot create topic {name}: {e}") from e
        report(f"created topic {name}")
    for wanted in wanted_topics:
        if wanted.topic in existing:
            _keep_config(admin, wanted)
            partitions = len(existing[wanted.topic].partitions)
            report(f"topic {wanted.topic} exists ({partitions} partitions)")


def install_index(settings: StackSettings, report: Report) -> None:
    es = launcher_elasticsearch(settings)
    try:
        es.indices.put_index_template(
            name=names.PAINTINGS_TEMPLATE,
            body=mapping.index_template(
                shards=settings.index_shards,
                replicas=settings.index_replicas,
                index_options=settings.vector_index,
            ),
        )
        report(f"index template {names.PAINTINGS_TEMPLATE} installed")
        if es.indices.exists_alias(name=names.PAINTINGS_ALIAS):
            indices = sorted(es.indices.get_alias(name=names.PAINTINGS_ALIAS))
            report(f"alias {names.PAINTINGS_ALIAS} exists -> {', '.join(indices)}")
            # The base connector writes into its own index, behind the alias or not.
            base = names.BASE_PIPELINE.index
            if es.indices.exists(index=base):
                body = mapping.mappings(index_options=settings.vector_index)
                add_vector_fields(es, base, body, report)
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


def launcher_elasticsearch(settings: StackSettings) -> Elasticsearch:
    """The launcher's client: as the superuser `elastic`, over TLS, on a secured stack."""
    return Elasticsearch(**elasticsearch_security.launcher_options(settings), request_timeout=30)


def connector_config(
    settings: StackSettings, pipeline: names.ModelPipeline = names.BASE_PIPELINE
) -> dict[str, str]:
    return {
        "connector.class": CONNECTOR_CLASS,
        "tasks.max": str(settings.connect_tasks),
        "topics": pipeline.topic,
        "connection.urls": settings.elasticsearch_for_connector,
        # Each pipeline writes into its own concrete index, never through the alias: once the
        # alias moves to a new model version's index, the old version's records still go to
        # the old index (kept whole for a rollback), never into the new one.
        "index": pipeline.index,
        "require.alias": "false",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        # Reads every version of the paintings contract (JSON, CBOR with float32 vectors) into
        # one schemaless map; version 1 through Kafka's JsonConverter with these settings.
        "value.converter": PAINTING_CONVERTER,
        "value.converter.schemas.enable": "false",
        # A record that cannot be converted, transformed or indexed goes to the dead-letter
        # topic with the reason in its headers; the task keeps running.
        "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": pipeline.sink_dead_letter_topic,
        "errors.deadletterqueue.topic.replication.factor": "1",
        "errors.deadletterqueue.context.headers.enable": "true",
        "errors.log.enable": "true",
        "errors.log.include.messages": "false",
        "transforms": "vectors",
        "transforms.vectors.type": "io.imgsim.connect.transforms.VectorsByMetric",
        "transforms.vectors.field": VECTORS_FIELD,
        # One vector field per metric, and the float copies exact searches read.
        "transforms.vectors.metrics": ",".join(mapping.sink_vector_fields(settings.vector_index)),
        # (No consumer override: the worker's policy is None, and a sink's consumer without a
        # committed offset starts at the earliest one anyway.)
        # Secured: the CA and the sink role's login, as FileConfigProvider placeholders that
        # only the worker resolves.
        **elasticsearch_keys.connector_login(settings),
    }


def register_connector(
    settings: StackSettings,
    report: Report,
    timeout_s: float = 60,
    pipeline: names.ModelPipeline = names.BASE_PIPELINE,
    restart: bool = False,
) -> None:
    name = pipeline.connector
    url = f"{settings.connect}/connectors/{name}"
    with httpx.Client(timeout=30, auth=credentials.launcher_connect_auth(settings)) as http:
        response = http.put(f"{url}/config", json=connector_config(settings, pipeline))
        if response.status_code not in (200, 201):
            raise StackError(
                "connect",
                f"registering {name} failed ({response.status_code}): {response.text[:500]}",
            )
        report(
            f"connector {name} "
            f"{'registered' if response.status_code == 201 else 'configuration up to date'}"
        )
        if restart and response.status_code == 200:
            # The worker resolved the old login when the tasks started; a new one (a rotated
            # key) is read only by tasks started again.
            http.post(f"{url}/restart", params={"includeTasks": "true"}).raise_for_status()
            report(f"connector {name} restarted to read its new Elasticsearch login")
        status = wait_connector_running(http, url, timeout_s)
        report(f"connector {name} RUNNING with {len(status['tasks'])} task(s)")


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


def add_vector_fields(es: Elasticsearch, index: str, body: dict[str, Any], report: Report) -> None:
    """Adds the vector fields an index made by an older release lacks (the exact copies), so
    that the sink, which writes them, is not refused by the strict mapping. Adding fields is
    allowed; a field mapped otherwise is not changed, and the report says so."""
    wanted = body["properties"][VECTORS_FIELD]
    held = es.indices.get_mapping(index=index)[index]["mappings"]
    present = held.get("properties", {}).get(VECTORS_FIELD, {}).get("properties", {})
    missing: dict[str, Any] = {}
    for name, fields in wanted["properties"].items():
        have = present.get(name, {}).get("properties", {})
        new = {k: v for k, v in fields["properties"].items() if k not in have}
        if new:
            missing[name] = {"properties": new}
    if not missing:
        return
    try:
        es.indices.put_mapping(index=index, properties={VECTORS_FIELD: {"properties": missing}})
    except ApiError as e:
        report(f"index {index}: cannot add vector fields {sorted(missing)}: {e.message}")
        return
    added = sum(len(fields["properties"]) for fields in missing.values())
    report(f"index {index}: {added} vector fields added (exact copies)")


def hand_out_logins(settings: StackSettings, report: Report) -> bool:
    """A secured stack's Elasticsearch login per role, written where each client reads it;
    True when the sink's changed."""
    if not settings.secured:
        return False
    local = elasticsearch_node.Elasticsearch(settings, artifacts.installation(settings))
    if settings.elasticsearch_url is None and (local.home / "config" / "users").exists():
        # The launcher's own Elasticsearch: its file-realm users follow the password files.
        if local.refresh_users():
            report("Elasticsearch file-realm users updated to their password files")
            for role in ROLES:
                elasticsearch_security.wait_for_login(settings, role)
    es = launcher_elasticsearch(settings)
    try:
        logins = elasticsearch_keys.ensure_logins(es, settings, report)
    finally:
        es.close()
    return elasticsearch_keys.hand_out(settings, logins, report)


def provision(settings: StackSettings, report: Report) -> None:
    # Connectors stored by a release before the override policy None would stay FAILED
    # (natively after `up`, and in docker-compose, whose init runs this alone).
    override_policy.drop_client_overrides(settings, report)
    sink_login_changed = hand_out_logins(settings, report)
    create_topics(settings, report)
    install_index(settings, report)
    register_connector(settings, report, restart=sink_login_changed)


def install_model_index(settings: StackSettings, card: ModelCard, report: Report) -> None:
    """The model version's own index, mapped from its card; never behind the alias here."""
    index = names.model_pipeline(card.pipeline_version).index
    es = launcher_elasticsearch(settings)
    try:
        if es.indices.exists(index=index):
            meta = es.indices.get_mapping(index=index)[index]["mappings"].get("_meta", {})
            held = meta.get(mapping.META_KEY, {}).get("model_card", {}).get("version")
            if held != card.version:
                raise StackError(
                    "elasticsearch",
                    f"index {index} exists but holds model version {held}, not {card.version}",
                )
            report(f"index {index} exists")
            body = mapping.model_index(card, index_options=settings.vector_index)["mappings"]
            add_vector_fields(es, index, body, report)
            return
        es.indices.create(
            index=index,
            body=mapping.model_index(
                card,
                shards=settings.index_shards,
                replicas=settings.index_replicas,
                index_options=settings.vector_index,
            ),
        )
        report(f"index {index} created from the card of {card.name} {card.version}")
    finally:
        es.close()


def provision_model(settings: StackSettings, card: ModelCard, report: Report) -> None:
    """A trained model version's pipeline: its topic, its index, its sink connector."""
    pipeline = names.model_pipeline(card.pipeline_version)
    if pipeline.version is None:
        raise StackError("model", f"{card.name} has no trained representations of its own")
    create_topics(settings, report, pipeline_topics(settings, pipeline))
    install_model_index(settings, card, report)
    register_connector(settings, report, pipeline=pipeline)
