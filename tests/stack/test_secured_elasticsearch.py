"""The secured stack's Elasticsearch: TLS only, nobody in without credentials, and each role of
the product held to what it needs (the search API cannot delete, the sink cannot read)."""

import ssl
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from imgsim_common import names
from imgsim_stack import credentials, elasticsearch_security
from imgsim_stack.settings import StackSettings

from tests.stack.secured_fixtures import secured_settings

pytestmark = [pytest.mark.integration, pytest.mark.secured]

BASE_INDEX = names.BASE_PIPELINE.index
ALIAS = names.PAINTINGS_ALIAS


@pytest.fixture(scope="module")
def stack(secured_stack: object) -> StackSettings:
    """The running secured stack's settings."""
    return secured_settings()


def password(stack: StackSettings, who: str) -> str:
    return credentials.read_secret(elasticsearch_security.password_file(stack.state_dir, who))


@pytest.fixture(scope="module")
def verify(stack: StackSettings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(elasticsearch_security.ca_file(stack)))


def client(stack: StackSettings, verify: ssl.SSLContext, role: str | None) -> httpx.Client:
    auth = (f"imgsim-{role}", password(stack, role)) if role else None
    return httpx.Client(base_url=stack.elasticsearch, verify=verify, auth=auth, timeout=15)


def doc(index: str, painting_id: str) -> str:
    return f"/{index}/_doc/{quote(painting_id, safe='')}"


@pytest.fixture
def as_role(stack: StackSettings, verify: ssl.SSLContext) -> Iterator[dict[str, httpx.Client]]:
    clients = {role: client(stack, verify, role) for role in ("search", "sink", "checker", "admin")}
    yield clients
    for http in clients.values():
        http.close()


@pytest.fixture
def elastic(stack: StackSettings, verify: ssl.SSLContext) -> Iterator[httpx.Client]:
    """The superuser, for what no role of the product may do."""
    superuser = ("elastic", password(stack, "elastic"))
    with httpx.Client(
        base_url=stack.elasticsearch, verify=verify, auth=superuser, timeout=15
    ) as http:
        yield http


@pytest.fixture
def painting_id(as_role: dict[str, httpx.Client], run_tag: str) -> Iterator[str]:
    """A document in the base index, put there (and taken away) by the administration role."""
    painting_id = f"{run_tag}/secured.jpg"
    admin = as_role["admin"]
    put = admin.put(
        doc(BASE_INDEX, painting_id),
        params={"refresh": "true"},
        json={"id": painting_id, "metadata": {"title": "Secured", "source": run_tag}},
    )
    assert put.status_code in (200, 201), put.text
    yield painting_id
    admin.delete(doc(BASE_INDEX, painting_id), params={"refresh": "true"})


def test_a_request_without_credentials_is_refused_with_401(
    stack: StackSettings, verify: ssl.SSLContext
) -> None:
    with client(stack, verify, None) as anonymous:
        answer = anonymous.get(f"/{ALIAS}/_search")

    assert answer.status_code == 401
    assert "ApiKey" in answer.headers.get("www-authenticate", "")


def test_a_wrong_password_is_refused_with_401(stack: StackSettings, verify: ssl.SSLContext) -> None:
    with httpx.Client(verify=verify, auth=("imgsim-search", "not-the-password")) as http:
        answer = http.get(f"{stack.elasticsearch}/{ALIAS}/_search")

    assert answer.status_code == 401


def test_plain_http_to_the_tls_port_gets_no_answer(stack: StackSettings) -> None:
    plain = stack.elasticsearch.replace("https://", "http://")
    assert plain.startswith("http://")

    with pytest.raises(httpx.TransportError):
        httpx.get(f"{plain}/{ALIAS}/_search", auth=("imgsim-search", "x"), timeout=10)


def test_tls_with_another_ca_is_refused(stack: StackSettings) -> None:
    # The system's public CAs do not vouch for the stack's certificate.
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{stack.elasticsearch}/", timeout=10)


def test_the_search_role_searches_and_reads_through_the_alias(
    as_role: dict[str, httpx.Client], painting_id: str
) -> None:
    search = as_role["search"]

    found = search.post(f"/{ALIAS}/_search", json={"query": {"ids": {"values": [painting_id]}}})
    got = search.get(doc(ALIAS, painting_id))
    mapping = search.get(f"/{ALIAS}/_mapping")

    assert found.status_code == 200, found.text
    assert [hit["_id"] for hit in found.json()["hits"]["hits"]] == [painting_id]
    assert got.status_code == 200 and got.json()["_source"]["metadata"]["title"] == "Secured"
    assert mapping.status_code == 200


def test_the_search_role_cannot_delete_a_document(
    as_role: dict[str, httpx.Client], painting_id: str
) -> None:
    search = as_role["search"]

    through_alias = search.delete(doc(ALIAS, painting_id))
    direct = search.delete(doc(BASE_INDEX, painting_id))

    assert (through_alias.status_code, direct.status_code) == (403, 403)
    assert "security_exception" in through_alias.text
    still = as_role["admin"].get(doc(BASE_INDEX, painting_id))
    assert still.json()["found"] is True


def test_the_search_role_reads_the_index_behind_the_alias_but_nothing_else(
    as_role: dict[str, httpx.Client], painting_id: str
) -> None:
    search = as_role["search"]

    # The API searches the concrete index it learned from the alias (one model per answer).
    concrete = search.get(doc(BASE_INDEX, painting_id))
    write = search.put(doc(ALIAS, painting_id), json={"metadata": {"title": "x"}})
    direct_write = search.put(doc(BASE_INDEX, painting_id), json={"metadata": {"title": "x"}})
    other = search.get("/.security/_search")
    security = search.get("/_security/user")

    assert concrete.status_code == 200, concrete.text
    assert [write.status_code, direct_write.status_code, security.status_code] == [403] * 3
    assert other.status_code in (403, 404)


def test_the_sink_writes_paintings_indices_but_reads_nothing(
    as_role: dict[str, httpx.Client], elastic: httpx.Client, painting_id: str, run_tag: str
) -> None:
    sink = as_role["sink"]
    ndjson = (
        f'{{"index": {{"_index": "{BASE_INDEX}", "_id": "{painting_id}"}}}}\n'
        f'{{"id": "{painting_id}", "metadata": {{"title": "Rewritten", "source": "{run_tag}"}}}}\n'
        f'{{"index": {{"_index": "outside-{run_tag}", "_id": "x"}}}}\n{{"a": 1}}\n'
    )

    bulk = sink.post(
        "/_bulk", content=ndjson, headers={"content-type": "application/x-ndjson"}
    ).json()
    read = sink.get(doc(BASE_INDEX, painting_id))
    search = sink.post(f"/{ALIAS}/_search")

    statuses = [next(iter(item.values()))["status"] for item in bulk["items"]]
    assert statuses == [200, 403]
    assert (read.status_code, search.status_code) == (403, 403)
    assert elastic.get(f"/outside-{run_tag}").status_code == 404


def test_the_sink_cannot_delete_outside_paintings_indices(
    as_role: dict[str, httpx.Client], elastic: httpx.Client, run_tag: str
) -> None:
    made = elastic.put(doc(f"outside-{run_tag}", "x"), json={"a": 1})
    assert made.status_code == 201, made.text
    try:
        answer = as_role["sink"].delete(doc(f"outside-{run_tag}", "x"))
        still = elastic.get(doc(f"outside-{run_tag}", "x"))
    finally:
        elastic.delete(f"/outside-{run_tag}")

    assert answer.status_code == 403
    assert still.json()["found"] is True


def test_the_checker_reads_counts_and_asks_health_but_cannot_delete(
    as_role: dict[str, httpx.Client], painting_id: str
) -> None:
    checker = as_role["checker"]

    health = checker.get("/_cluster/health", params={"level": "indices"})
    count = checker.get(f"/{ALIAS}/_count")
    alias = checker.get(f"/_alias/{ALIAS}")
    refresh = checker.post(f"/{ALIAS}/_refresh")
    delete = checker.delete(doc(ALIAS, painting_id))

    assert [r.status_code for r in (health, count, alias, refresh)] == [200] * 4
    assert BASE_INDEX in alias.json()
    assert delete.status_code == 403


def test_the_admin_role_deletes_a_document(
    as_role: dict[str, httpx.Client], painting_id: str
) -> None:
    answer = as_role["admin"].delete(doc(ALIAS, painting_id))

    assert answer.status_code == 200
    assert answer.json()["result"] == "deleted"
