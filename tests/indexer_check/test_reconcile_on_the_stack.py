"""Id-level reconciliation and repair on the real stack, each test on a pipeline of its own
(fixtures.py): faults planted in Kafka or the index are found exactly, and repair mends them."""

import json
from collections.abc import Iterator

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from elasticsearch import Elasticsearch
from imgsim_common import contract
from imgsim_common.painting_records import encode_painting, painting_headers
from imgsim_common.records import DeadLetter, ModelInfo
from imgsim_indexer_check.app import create_app
from imgsim_indexer_check.reconcile import Reconciliation
from imgsim_indexer_check.reconciler import Reconciler
from pydantic import SecretStr

from tests.indexer_check.fixtures import CheckRig
from tests.support import commit_at_end, eventually, serving

pytestmark = pytest.mark.integration


@pytest.fixture
def reconciler(check_rig: CheckRig) -> Iterator[Reconciler]:
    admin = AdminClient({"bootstrap.servers": check_rig.stack.bootstrap_servers})
    image_dlq = f"test-{check_rig.tag}-image-paths-dlq"
    admin.create_topics([NewTopic(image_dlq, 1, 1)])[image_dlq].result(30)
    settings = check_rig.settings(
        dead_letter_topic=image_dlq, sink_dead_letter_topic=check_rig.dead_letter_topic
    )
    found = Reconciler(settings)
    yield found
    found.close()
    admin.delete_topics([image_dlq])[image_dlq].result(30)


def settled(reconciler: Reconciler, what: str, timeout_s: float = 60) -> Reconciliation:
    """The first reconciliation with nothing in flight on either leg."""

    def check() -> Reconciliation | None:
        found = reconciler.reconcile()
        return found if not (found.pending_vectorizing or found.pending_indexing) else None

    return eventually(check, timeout_s, what)


def faults(found: Reconciliation) -> dict[str, list[str]]:
    return {
        kind: getattr(found, f"{kind}_ids")
        for kind in ("unresolved", "missing", "extra", "stale")
        if getattr(found, kind)
    }


def test_steady_ingestion_reconciles_with_nothing_lost(
    check_rig: CheckRig, reconciler: Reconciler
) -> None:
    check_rig.vectorizer()
    check_rig.publish(30)
    found = settled(reconciler, "30 published ids through both legs")
    assert (found.published, found.vectorized, found.indexed) == (30, 30, 30)
    assert faults(found) == {} and found.consistent
    assert found.dead_lettered == found.rejected_by_sink == 0


@pytest.mark.slow
def test_deleted_documents_are_missing_until_repair_brings_them_back(
    check_rig: CheckRig, reconciler: Reconciler, es: Elasticsearch
) -> None:
    check_rig.vectorizer()
    ids = check_rig.publish(12)
    settled(reconciler, "12 indexed")
    deleted = sorted(ids[3:6])
    for painting_id in deleted:
        es.delete(index=check_rig.alias, id=painting_id, refresh=True)

    found = reconciler.reconcile()
    assert faults(found) == {"missing": deleted}

    dry = reconciler.repair(dry_run=True)
    assert dry.done == {} and len(dry.actions) == 3
    assert all("produce the vector record again" in a for a in dry.actions)
    assert es.count(index=check_rig.alias)["count"] == 9, "a dry run changes nothing"

    assert reconciler.repair().done == {"reproduce": 3}

    def mended() -> Reconciliation | None:
        found = settled(reconciler, "the repair indexed")
        return found if found.consistent else None

    found = eventually(mended, 60, "missing ids back in the index")
    assert found.indexed == 12 and faults(found) == {}


def test_a_document_without_a_record_is_extra_and_deleted_only_when_asked(
    check_rig: CheckRig, reconciler: Reconciler, es: Elasticsearch
) -> None:
    check_rig.vectorizer()
    check_rig.publish(5)
    settled(reconciler, "5 indexed")
    stray = f"{check_rig.tag}/stray.jpg"
    es.index(index=check_rig.alias, id=stray, document={"id": stray}, refresh=True)

    assert faults(reconciler.reconcile()) == {"extra": [stray]}
    kept = reconciler.repair()
    assert kept.done == {} and es.exists(index=check_rig.alias, id=stray)

    assert reconciler.repair(delete_extra=True).done == {"delete": 1}
    assert not es.exists(index=check_rig.alias, id=stray)
    assert faults(reconciler.reconcile()) == {}


@pytest.mark.slow
def test_a_document_unlike_its_record_is_stale_and_a_resent_record_only_pending(
    check_rig: CheckRig, reconciler: Reconciler, es: Elasticsearch
) -> None:
    check_rig.vectorizer()
    ids = check_rig.publish(6)
    settled(reconciler, "6 indexed")

    # The index disagrees with a record the sink has taken: stale.
    es.update(index=check_rig.alias, id=ids[0], doc={"sha1": "f" * 40}, refresh=True)
    assert faults(reconciler.reconcile()) == {"stale": [ids[0]]}
    assert reconciler.repair().done == {"reproduce": 1}
    eventually(lambda: faults(settled(reconciler, "repaired")) == {}, 60, "stale mended")

    # A new version of a record, not taken by the paused sink yet: in flight, not a fault.
    check_rig.pause()
    model = ModelInfo(name="test-model", version="2")
    fields = {
        "id": ids[1],
        "path": ids[1],
        "sha1": "e" * 40,
        "width": 8,
        "height": 8,
        "model": model.model_dump(),
        "metadata": {},
    }
    vectors = {name: [1.0] * dims for name, dims in (("global", 960), ("mid", 112), ("style", 256))}
    check_rig.producer.produce(
        check_rig.paintings_topic,
        key=ids[1].encode(),
        value=encode_painting(fields, vectors),
        headers=[*painting_headers(ids[1], "e" * 40, model)],
    )
    assert check_rig.producer.flush(10) == 0
    found = reconciler.reconcile()
    # Nothing was in flight before (settled): exactly the new record is.
    assert found.pending_indexing == 1 and faults(found) == {}
    check_rig.resume()
    assert faults(settled(reconciler, "the new version indexed")) == {}
    es.indices.refresh(index=check_rig.alias)
    assert es.get(index=check_rig.alias, id=ids[1])["_source"]["model"]["version"] == "2"


def _commit_past_the_end(check_rig: CheckRig) -> None:
    """A vectorizer that loses what it read: it commits without producing anything."""
    commit_at_end(
        check_rig.stack.bootstrap_servers, check_rig.image_paths_topic, check_rig.vectorizer_group
    )


@pytest.mark.slow
def test_ids_without_an_outcome_are_unresolved_until_republished(
    check_rig: CheckRig, reconciler: Reconciler
) -> None:
    lost = check_rig.publish(4)
    assert reconciler.reconcile().pending_vectorizing == 4, "not read yet: in flight"
    _commit_past_the_end(check_rig)
    found = reconciler.reconcile()
    assert faults(found) == {"unresolved": sorted(lost)}

    assert reconciler.repair().done == {"republish": 4}
    check_rig.vectorizer()
    found = settled(reconciler, "the republished ids vectorized and indexed")
    assert faults(found) == {} and found.indexed == 4


def test_dead_letters_count_as_outcomes_and_can_be_retried_by_reason(
    check_rig: CheckRig, reconciler: Reconciler
) -> None:
    ids = check_rig.publish(3)
    _commit_past_the_end(check_rig)
    # The vectorizer's dead letters, as it writes them: two missing files, one bad image.
    dlq = reconciler.settings.dead_letter_topic
    for painting_id, reason in zip(ids, ("missing", "missing", "decode_failed"), strict=True):
        letter = DeadLetter(
            reason=reason, message="...", record={"id": painting_id, "path": painting_id}
        )
        check_rig.producer.produce(
            dlq,
            key=painting_id.encode(),
            value=letter.model_dump_json().encode(),
            headers=[(contract.REASON_HEADER, reason.encode())],
        )
    assert check_rig.producer.flush(10) == 0

    found = reconciler.reconcile()
    assert found.dead_lettered == 3 and faults(found) == {}
    assert found.dead_letters_by_reason == {"decode_failed": 1, "missing": 2}

    dry = reconciler.retry_dead_letters("missing", dry_run=True)
    assert len(dry.actions) == 2 and dry.done == {}
    assert reconciler.retry_dead_letters("missing").done == {"retry": 2}
    check_rig.vectorizer()

    def retried() -> Reconciliation | None:
        found = settled(reconciler, "retried ids through both legs")
        return found if found.vectorized == 2 else None

    found = eventually(retried, 60, "the two missing ids vectorized")
    assert found.dead_lettered == 1 and faults(found) == {}
    # Retried inputs are the records that were dead-lettered, unchanged.
    reader = Consumer(
        {"bootstrap.servers": check_rig.stack.bootstrap_servers, "group.id": f"{check_rig.tag}-r"}
    )
    try:
        reader.assign([TopicPartition(check_rig.image_paths_topic, p, 0) for p in range(3)])
        values = [
            json.loads(m.value() or b"null") for m in reader.consume(100, timeout=5) if m.value()
        ]
    finally:
        reader.close()
    assert sum(v == {"id": ids[0], "path": ids[0]} for v in values) == 1


@pytest.mark.slow
def test_the_service_reconciles_repairs_and_reports_it_in_health(
    check_rig: CheckRig, reconciler: Reconciler, es: Elasticsearch
) -> None:
    check_rig.vectorizer()
    ids = check_rig.publish(5)
    settled(reconciler, "5 indexed")
    es.delete(index=check_rig.alias, id=ids[0], refresh=True)

    token = SecretStr("test-admin-token")  # the actions answer only with it (admin.py)
    settings = reconciler.settings.model_copy(
        update={"reconcile_interval_s": 0, "admin_token": token}
    )
    with (
        serving(create_app(settings)) as url,
        httpx.Client(
            base_url=url,
            timeout=60,
            headers={"Authorization": f"Bearer {token.get_secret_value()}"},
        ) as client,
    ):
        found = client.post("/reconcile")
        assert found.status_code == 200 and found.json()["missing_ids"] == [ids[0]]

        def erring() -> httpx.Response | None:  # the next poll carries it into the report
            health = client.get("/health")
            return health if health.json()["state"] == "ERR" else None

        health = eventually(erring, 10, "/health says ERR")
        assert health.status_code == 503
        assert "1 missing from the index" in health.json()["reason"]
        assert health.json()["reconciliation"]["missing"] == 1
        assert f'imgsim_indexer_check_missing{{index="{check_rig.alias}"}} 1.0' in (
            client.get("/metrics").text
        )

        assert client.post("/repair?dry_run=maybe").status_code == 400
        assert client.get("/repair").status_code == 405, "actions answer POST only"
        dry = client.post("/repair?dry_run=true").json()
        assert dry["dry_run"] and dry["done"] == {} and len(dry["actions"]) == 1
        assert client.post("/repair").json()["done"] == {"reproduce": 1}
    eventually(lambda: settled(reconciler, "repaired").consistent, 60, "the document back")
