"""The checker's HTTP client sends each component its own credentials, and no other's."""

import asyncio
import base64
from pathlib import Path

import httpx
import pytest
from imgsim_indexer_check import http_access
from imgsim_indexer_check.settings import IndexerCheckSettings


def _settings(tmp_path: Path) -> IndexerCheckSettings:
    (tmp_path / "connect").write_text("connect-pw\n")
    (tmp_path / "es-key").write_text("ZXMta2V5\n")
    return IndexerCheckSettings(
        connect_url="http://127.0.0.1:18083",
        connect_username="checker",
        connect_password_file=tmp_path / "connect",
        elasticsearch_url="https://127.0.0.1:19200",
        elasticsearch_api_key_file=tmp_path / "es-key",
    )


def test_each_origin_gets_its_own_authorization(tmp_path: Path) -> None:
    seen: dict[str, str | None] = {}

    def answer(request: httpx.Request) -> httpx.Response:
        seen[str(request.url)] = request.headers.get("Authorization")
        return httpx.Response(200, json={})

    settings = _settings(tmp_path)
    auth = http_access.AuthorizationByOrigin(
        {
            settings.connect_url: settings.connect_authorization() or "",
            settings.elasticsearch_url: settings.elasticsearch_authorization() or "",
        }
    )

    async def visit() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer), auth=auth) as http:
            await http.get("http://127.0.0.1:18083/connectors/x/status")
            await http.get("https://127.0.0.1:19200/_cluster/health")
            await http.get("http://elsewhere:9200/")

    asyncio.run(visit())
    connect = seen["http://127.0.0.1:18083/connectors/x/status"]
    assert connect is not None
    assert base64.b64decode(connect.split()[1]) == b"checker:connect-pw"
    assert seen["https://127.0.0.1:19200/_cluster/health"] == "ApiKey ZXMta2V5"
    assert seen["http://elsewhere:9200/"] is None


def test_the_client_trusts_the_configured_ca_only(tmp_path: Path) -> None:
    from tests.support import make_ca_file

    settings = _settings(tmp_path).model_copy(
        update={"elasticsearch_ca_file": make_ca_file(tmp_path)}
    )
    client = http_access.client(settings)
    assert isinstance(client.auth, http_access.AuthorizationByOrigin)


def test_a_fingerprint_alone_is_refused_with_the_reason(tmp_path: Path) -> None:
    settings = _settings(tmp_path).model_copy(update={"elasticsearch_ca_fingerprint": "AB:CD"})
    with pytest.raises(ValueError, match="CA file"):
        http_access.client(settings)
