from pathlib import Path

import pytest
from imgsim_common import mapping, names
from imgsim_stack.provision import connector_config, topics
from imgsim_stack.settings import StackSettings
from pydantic import ValidationError


def test_ports_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMGSIM_STACK_KAFKA_PORT", "19092")
    monkeypatch.setenv("IMGSIM_STACK_ELASTICSEARCH_URL", "http://elasticsearch:9200")

    settings = StackSettings()

    assert settings.bootstrap_servers == "127.0.0.1:19092"
    assert settings.elasticsearch == "http://elasticsearch:9200"
    assert settings.elasticsearch_for_connector == "http://elasticsearch:9200"


def test_clashing_ports_are_refused() -> None:
    with pytest.raises(ValidationError, match="must differ"):
        StackSettings(kafka_port=9200)


def test_a_bad_heap_size_is_refused() -> None:
    with pytest.raises(ValidationError, match="kafka_heap"):
        StackSettings(kafka_heap="lots")


def test_connector_sends_failures_to_the_dead_letter_topic_and_fans_out_metrics() -> None:
    config = connector_config(StackSettings(connector_elasticsearch_url="http://es:9200"))

    assert config["errors.tolerance"] == "all"
    assert config["errors.deadletterqueue.topic.name"] == "paintings-dlq"
    # One field per metric, and the float copies that exact searches read.
    assert config["transforms.vectors.metrics"] == "cosine,l2,cosine_exact,l2_exact"
    assert config["connection.urls"] == "http://es:9200"
    # Into the base pipeline's concrete index, not through the alias a model swap moves.
    assert (config["topics"], config["index"]) == ("paintings", "paintings-v1")
    assert config["require.alias"] == "false"


@pytest.mark.parametrize(
    ("overrides", "metrics"),
    [
        ({"vector_exact_copies": False}, "cosine,l2"),
        ({"vector_index_options": "flat"}, "cosine,l2"),  # exact itself: no copies
    ],
)
def test_the_sink_writes_exactly_the_fields_the_index_maps(
    overrides: dict[str, object], metrics: str
) -> None:
    settings = StackSettings(**overrides)  # type: ignore[arg-type]

    config = connector_config(settings)

    assert config["transforms.vectors.metrics"] == metrics
    vectors = mapping.mappings(index_options=settings.vector_index)["properties"]["vectors"]
    assert set(vectors["properties"]["global"]["properties"]) == set(metrics.split(","))


def test_a_model_versions_connector_drains_its_own_topic_into_its_own_index() -> None:
    pipeline = names.model_pipeline("abc123")

    config = connector_config(StackSettings(), pipeline)

    assert config["topics"] == config["index"] == "paintings-model-abc123"
    assert config["errors.deadletterqueue.topic.name"] == "paintings-model-abc123-dlq"


def test_paintings_topic_is_compacted_and_image_paths_partitioned(tmp_path: Path) -> None:
    by_name = {t.topic: t for t in topics(StackSettings(image_paths_partitions=8))}

    assert by_name["paintings"].config == {
        "cleanup.policy": "compact",
        "segment.bytes": str(64 * 2**20),
    }
    assert by_name["image-paths"].num_partitions == 8
    assert {"image-paths-dlq", "paintings-dlq"} <= set(by_name)


def test_publications_and_dead_letters_are_kept_for_the_checker() -> None:
    by_name = {t.topic: t for t in topics(StackSettings())}
    for kept in ("image-paths", "image-paths-dlq", "paintings-dlq"):
        assert by_name[kept].config == {"retention.ms": "-1"}, kept
