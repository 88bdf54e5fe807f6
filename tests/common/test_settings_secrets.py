"""A settings error never prints a secret. Pydantic shows the input of a failed check, and for a
check of the whole settings (a SASL protocol without a username, an API key beside a username)
that input is every value read, secrets among them, unless the settings hide it."""

import pytest
from imgsim_indexer_check.settings import IndexerCheckSettings
from imgsim_search_api.settings import SearchApiSettings
from imgsim_vectorizer.settings import PublishSettings, VectorizerSettings
from pydantic import ValidationError
from pydantic_settings import BaseSettings

SECRET = "s3cret-that-must-not-print"

KAFKA_WITHOUT_USERNAME = {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_PASSWORD": SECRET}
KEY_AND_USERNAME = {"ELASTICSEARCH_API_KEY": SECRET, "ELASTICSEARCH_USERNAME": "elastic"}

CASES = [
    (PublishSettings, "VECTORIZER_", KAFKA_WITHOUT_USERNAME),
    (VectorizerSettings, "VECTORIZER_", KAFKA_WITHOUT_USERNAME),
    (SearchApiSettings, "SEARCH_API_", KEY_AND_USERNAME),
    (IndexerCheckSettings, "INDEXER_CHECK_", KAFKA_WITHOUT_USERNAME),
    (IndexerCheckSettings, "INDEXER_CHECK_", KEY_AND_USERNAME),
]


@pytest.mark.parametrize(("settings", "prefix", "variables"), CASES)
def test_a_settings_error_does_not_print_secrets(
    settings: type[BaseSettings],
    prefix: str,
    variables: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(prefix + name, value)
    with pytest.raises(ValidationError) as refused:
        settings()
    assert any(why in str(refused.value) for why in ("go together", "needs", "not both"))
    # Pydantic shortens a long input in the middle: a piece of the secret is a leak too.
    for piece in (SECRET[:10], SECRET[-10:]):
        assert piece not in str(refused.value)
        assert piece not in repr(refused.value)
