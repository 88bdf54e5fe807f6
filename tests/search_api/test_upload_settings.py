"""Upload search's settings: the vectorizer's embedding endpoint, refused at start-up when it is
not an http(s) URL; without one, upload search is off and the rest of the API runs."""

import pytest
from imgsim_search_api.settings import SearchApiSettings
from pydantic import ValidationError


def test_the_embedding_url_is_read_from_the_environment_and_tidied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SEARCH_API_EMBEDDING_URL", "  http://vectorizer:9466/ ")
    monkeypatch.setenv("SEARCH_API_EMBEDDING_TIMEOUT_S", "12.5")

    settings = SearchApiSettings()

    assert settings.embedding_url == "http://vectorizer:9466"
    assert settings.embedding_timeout_s == 12.5
    assert settings.upload_search


@pytest.mark.parametrize("url", ["vectorizer:9466", "ftp://vectorizer:9466", "http://"])
def test_an_embedding_url_that_is_not_http_is_refused_at_start_up(url: str) -> None:
    with pytest.raises(ValidationError, match="is not an http\\(s\\) URL"):
        SearchApiSettings(embedding_url=url)


def test_upload_search_is_on_only_with_an_embedding_url_and_not_switched_off() -> None:
    assert not SearchApiSettings().upload_search  # unset: off, as the default
    assert not SearchApiSettings(embedding_url="   ").upload_search
    assert not SearchApiSettings(
        embedding_url="http://127.0.0.1:9466", upload_enabled=False
    ).upload_search
    assert SearchApiSettings(embedding_url="https://vectors.example").upload_search


def test_a_timeout_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValidationError, match="embedding_timeout_s"):
        SearchApiSettings(embedding_timeout_s=0)
