"""Elasticsearch refusing the API's own credentials is the server's problem: a 503 that says so,
never a 500 and never anything about the credentials themselves."""

import logging

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import AuthenticationException, AuthorizationException
from imgsim_search_api.request_state import elasticsearch_failure


def _refusal(kind: type[Exception], status: int) -> Exception:
    meta = ApiResponseMeta(status, "1.1", HttpHeaders(), 0.0, NodeConfig("https", "es", 9200))
    body = {"error": {"type": "security_exception", "reason": "unauthorized for [imgsim-search]"}}
    return kind("security_exception", meta, body)


@pytest.mark.parametrize(
    ("kind", "status"), [(AuthenticationException, 401), (AuthorizationException, 403)]
)
def test_a_refusal_is_a_503_that_names_the_log(
    kind: type[Exception], status: int, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        answer = elasticsearch_failure(_refusal(kind, status))
    assert answer["status"] == 503
    assert "credentials" in answer["error"]
    assert "imgsim-search" not in answer["error"]
    assert "refused the search API's credentials" in caplog.text
