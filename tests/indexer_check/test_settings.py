"""The checker's settings: defaults, windows sized to commit intervals, clear errors."""

import re

import pytest
from imgsim_indexer_check.settings import IndexerCheckSettings, window_samples
from pydantic import ValidationError


def test_defaults_name_the_products_topics_group_and_connector() -> None:
    settings = IndexerCheckSettings()
    assert (settings.image_paths_topic, settings.paintings_topic) == ("image-paths", "paintings")
    assert settings.vectorizer_group == "imgsim-vectorizer"
    assert settings.sink_group == "connect-paintings-elasticsearch-sink"
    assert settings.port == 9465


def test_windows_span_four_commit_intervals_of_their_leg() -> None:
    settings = IndexerCheckSettings(poll_interval_s=2)
    # Connect commits every 5 s: 20 s of polls every 2 s, and the first.
    assert settings.sink_window_samples == 11
    # The vectorizer every second: the minimum of 5 samples (8 s).
    assert settings.vectorizer_window_samples == 5
    assert window_samples(commit_interval_s=5, poll_interval_s=0.5) == 41


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INDEXER_CHECK_SINK_WINDOW", "30")
    monkeypatch.setenv("INDEXER_CHECK_CONNECT_URL", "http://connect:8083/")
    settings = IndexerCheckSettings()
    assert settings.sink_window_samples == 30
    assert settings.connect_url == "http://connect:8083"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"elasticsearch_url": "127.0.0.1:9200"}, "is not an http(s) URL"),
        ({"kafka_bootstrap_servers": "kafka"}, "is not HOST:PORT"),
        ({"poll_interval_s": 0}, "greater than 0"),
        ({"port": 70000}, "less than or equal to 65535"),
        ({"sink_window": 2, "poll_interval_s": 2}, "a healthy leg would look stalled"),
    ],
)
def test_a_wrong_value_is_refused_with_a_clear_message(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        IndexerCheckSettings(**values)  # type: ignore[arg-type]


def test_an_unknown_variable_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INDEXER_CHECK_POLL_INTERVAL", "2")  # the setting is POLL_INTERVAL_S
    with pytest.raises(ValidationError, match="did you mean INDEXER_CHECK_POLL_INTERVAL_S"):
        IndexerCheckSettings()


def test_a_model_version_aims_the_checker_at_that_versions_pipeline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INDEXER_CHECK_MODEL_VERSION", "abc123")

    settings = IndexerCheckSettings()

    assert settings.paintings_topic == settings.alias == "paintings-model-abc123"
    assert settings.vectorizer_group == "imgsim-vectorizer-abc123"
    assert settings.sink_group == "connect-paintings-model-abc123-sink"
    assert settings.sink_dead_letter_topic == "paintings-model-abc123-dlq"
    # What both pipelines share stays.
    assert settings.image_paths_topic == "image-paths"
    assert settings.dead_letter_topic == "image-paths-dlq"
