"""The sink connector on the secured stack: over TLS with the sink role's login, read by the
worker from a file so that Connect's REST API never shows it; refused credentials or privileges
fail the task with the reason instead of retrying for ever."""

import json
import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from imgsim_common import names
from imgsim_stack import credentials, elasticsearch_keys, elasticsearch_security, provision
from imgsim_stack.elasticsearch_roles import ADMIN

from tests.stack.secured_fixtures import secured_settings
from tests.support import eventually, painting

pytestmark = [pytest.mark.integration, pytest.mark.secured]

BASE_INDEX = names.BASE_PIPELINE.index


class SecuredSink:
    """One test's own topic and connector on the secured stack, removed afterwards."""

    def __init__(self, tag: str) -> None:
        self.settings = secured_settings()
        self.name = f"{tag}-secured-sink"
        # An index of the test's own, inside the sink role's `paintings-*` (the template maps
        # it): the secured stack's base index belongs to the end-to-end test, whose
        # reconciliation would count this test's documents as extra.
        self.index = f"{BASE_INDEX}-{tag}".lower()
        self.pipeline = names.ModelPipeline(
            None, f"{tag}-paintings", self.index, self.name, f"{tag}-group", f"{tag}-dlq"
        )
        state = self.settings.state_dir
        self.kafka = credentials.kafka_client_config(state, self.settings.bootstrap_servers)
        self.connect = httpx.Client(
            base_url=f"{self.settings.connect}/connectors/{self.name}",
            auth=credentials.launcher_connect_auth(self.settings),
            timeout=30,
        )
        context = ssl.create_default_context(
            cafile=str(elasticsearch_security.ca_file(self.settings))
        )
        admin = credentials.read_secret(elasticsearch_security.password_file(state, ADMIN))
        self.es = httpx.Client(
            base_url=self.settings.elasticsearch,
            verify=context,
            auth=(ADMIN.user, admin),
            timeout=15,
        )

    def register(self, **overrides: str) -> dict[str, Any]:
        topics = [
            NewTopic(self.pipeline.topic, 1, 1),
            NewTopic(self.pipeline.sink_dead_letter_topic, 1, 1),
        ]
        admin = AdminClient(self.kafka)  # kept alive until its futures are done
        for future in admin.create_topics(topics).values():
            future.result(timeout=30)
        made = self.es.put(f"/{self.index}")
        assert made.status_code in (200, 400), made.text  # 400: made by an earlier register
        config = provision.connector_config(self.settings, self.pipeline) | overrides
        answer = self.connect.put("/config", json=config)
        assert answer.status_code == 201, answer.text
        return config

    def produce(self, painting_id: str) -> None:
        producer = Producer({**self.kafka, "acks": "all"})
        record = painting(painting_id, self.pipeline.topic, title="Over TLS")
        producer.produce(self.pipeline.topic, key=painting_id.encode(), value=json.dumps(record))
        assert producer.flush(30) == 0, "the record was not acknowledged by Kafka"

    def document(self, painting_id: str) -> dict[str, Any] | None:
        answer = self.es.get(f"/{self.index}/_doc/{quote(painting_id, safe='')}")
        return answer.json() if answer.status_code == 200 else None

    def failed_task_trace(self) -> str | None:
        answer = self.connect.get("/status")
        if answer.status_code != 200:
            return None
        failed = [t for t in answer.json()["tasks"] if t["state"] == "FAILED"]
        return str(failed[0].get("trace", "")) if failed else None

    def remove(self) -> None:
        self.connect.delete("")
        self.es.delete(f"/{self.index}")
        topics = [self.pipeline.topic, self.pipeline.sink_dead_letter_topic]
        admin = AdminClient(self.kafka)
        for future in admin.delete_topics(topics).values():
            try:
                future.result(timeout=30)
            except Exception:  # noqa: BLE001 - a topic never made is not in the way
                pass
        self.connect.close()
        self.es.close()


@pytest.fixture
def sink(secured_stack: object, run_tag: str) -> Iterator[SecuredSink]:
    made = SecuredSink(run_tag)
    yield made
    made.remove()


def test_a_record_reaches_the_secured_index_through_the_sink_role(
    sink: SecuredSink, run_tag: str
) -> None:
    config = sink.register()
    painting_id = f"{run_tag}/over-tls.jpg"

    sink.produce(painting_id)

    doc = eventually(lambda: sink.document(painting_id), timeout_s=60, what="document indexed")
    assert doc["_source"]["metadata"]["title"] == "Over TLS"
    assert config["connection.urls"].startswith("https://")


def test_the_connect_rest_api_never_shows_the_sinks_secret(sink: SecuredSink) -> None:
    sink.register()
    properties = elasticsearch_keys.sink_properties(sink.settings.state_dir)
    secrets = [line.split("=", 1)[1] for line in properties.read_text().splitlines()]
    secret = secrets[-1]  # the password or the API key

    shown = sink.connect.get("").text + sink.connect.get("/config").text
    tasks = sink.connect.get("/tasks").text

    assert len(secret) >= 16
    assert secret not in shown + tasks
    assert f"${{file:{properties}:" in shown


def test_refused_credentials_fail_the_task_with_401_instead_of_retrying(
    sink: SecuredSink, run_tag: str
) -> None:
    # A literal wrong password: no file holds it, the provider is not involved.
    sink.register(**{"connection.username": "imgsim-sink", "connection.password": "wrong-password"})

    sink.produce(f"{run_tag}/refused.jpg")

    trace = eventually(sink.failed_task_trace, timeout_s=60, what="task FAILED")
    assert "answered 401 (not authenticated)" in trace
    assert "wrong-password" not in trace


def test_an_index_outside_the_sinks_privileges_fails_the_task_with_403(
    sink: SecuredSink, run_tag: str
) -> None:
    sink.register(index=f"outside-{run_tag}")

    sink.produce(f"{run_tag}/outside.jpg")

    trace = eventually(sink.failed_task_trace, timeout_s=60, what="task FAILED")
    assert f"refused to write to outside-{run_tag} (status 403)" in trace
    assert "auto_create] is unauthorized for user [imgsim-sink]" in trace
