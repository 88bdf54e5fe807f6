"""The search API against the real Elasticsearch, checked against brute force."""

import json
from typing import Any

import httpx
import numpy as np
import pytest
from imgsim_common.representations import REPRESENTATIONS
from imgsim_stack.settings import StackSettings

from tests.search_api.fixtures import ApiServer, SearchIndex, start_api
from tests.support import free_port

pytestmark = pytest.mark.integration

QUERY_ID = "collection/painting-007.jpg"


def brute_force(index: SearchIndex, representation: str, metric: str, k: int) -> list[str]:
    query = np.array(index.documents[QUERY_ID]["vectors"][representation][metric])
    scored = []
    for painting_id, document in index.documents.items():
        stored = document["vectors"].get(representation)
        if painting_id == QUERY_ID or stored is None:
            continue
        vector = np.array(stored[metric])
        if metric == "cosine":
            score = -float(vector @ query / np.linalg.norm(vector) / np.linalg.norm(query))
        else:
            score = float(np.linalg.norm(vector - query))
        scored.append((score, painting_id))
    return [painting_id for _, painting_id in sorted(scored)[:k]]


def test_a_painting_is_returned_with_its_metadata_and_without_vectors(api: ApiServer) -> None:
    response = httpx.get(f"{api.url}/paintings/{QUERY_ID}")

    assert response.status_code == 200
    assert response.json()["metadata"]["title"] == "Painting 7"
    assert "vectors" not in response.json()


def test_a_painting_comes_with_its_vectors_when_asked(
    api: ApiServer, search_index: SearchIndex
) -> None:
    every = httpx.get(f"{api.url}/paintings/{QUERY_ID}", params={"vectors": "true"})
    some = httpx.get(f"{api.url}/paintings/{QUERY_ID}", params={"vectors": "style,mid"})
    older = httpx.get(f"{api.url}/paintings/collection/painting-059.jpg", params={"vectors": "1"})
    unknown = httpx.get(f"{api.url}/paintings/{QUERY_ID}", params={"vectors": "colour"})

    assert every.status_code == some.status_code == older.status_code == 200, every.text
    stored = search_index.documents[QUERY_ID]["vectors"]
    assert every.json()["metadata"]["title"] == "Painting 7"
    for name, vector in every.json()["vectors"].items():  # float32 values, read back exactly
        expected = np.array(stored[name]["l2"], np.float32)
        assert np.array_equal(np.array(vector, np.float32), expected), name
    assert sorted(every.json()["vectors"]) == ["global", "mid", "style"]
    assert sorted(some.json()["vectors"]) == ["mid", "style"]
    assert sorted(older.json()["vectors"]) == ["global", "style"]  # it has no `mid`
    assert unknown.status_code == 400 and "colour" in unknown.json()["error"]


def test_the_base_index_s_representations_come_from_its_mapping(
    api: ApiServer, search_index: SearchIndex
) -> None:
    body = httpx.get(f"{api.url}/representations").json()
    ready = httpx.get(f"{api.url}/readyz").json()

    assert [(r["name"], r["dims"]) for r in body["representations"]] == [
        (r.name, r.dims) for r in REPRESENTATIONS
    ]
    assert body["index"] == body["alias"] == search_index.name
    # The test's paintings name no model (`model` is not in them).
    assert (
        body["model"] is None and body["model_note"] == "no painting in the index names its model"
    )
    assert ready["status"] == "ready" and ready["serving"] == search_index.name


@pytest.mark.parametrize("metric", ["cosine", "l2"])
@pytest.mark.parametrize("representation", [r.name for r in REPRESENTATIONS])
def test_similar_paintings_match_brute_force(
    api: ApiServer, search_index: SearchIndex, representation: str, metric: str
) -> None:
    response = httpx.get(
        f"{api.url}/similar/{QUERY_ID}",
        params={"representation": representation, "metric": metric, "k": 8},
    )

    assert response.status_code == 200, response.text
    (block,) = response.json()["results"]
    assert [hit["id"] for hit in block["hits"]] == brute_force(
        search_index, representation, metric, 8
    )
    assert all("vectors" not in hit for hit in block["hits"])


def test_filters_keep_the_style_and_leave_out_the_artist(api: ApiServer) -> None:
    response = httpx.get(
        f"{api.url}/similar/{QUERY_ID}",
        params={"representation": "global", "k": 20, "same_style": "true", "exclude_artist": "1"},
    )

    hits = response.json()["results"][0]["hits"]
    query = response.json()["metadata"]
    assert hits and all(hit["metadata"]["style"] == query["style"] for hit in hits)
    assert all(hit["metadata"]["artist"] != query["artist"] for hit in hits)
    assert QUERY_ID not in [hit["id"] for hit in hits]


def test_similar_to_a_raw_vector(api: ApiServer, search_index: SearchIndex) -> None:
    vector = search_index.documents[QUERY_ID]["vectors"]["style"]["l2"]

    response = httpx.post(
        f"{api.url}/similar", json={"representation": "style", "metric": "l2", "vector": vector}
    )

    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["hits"][0]["id"] == QUERY_ID


def _lines(api: ApiServer, accept: str) -> list[bytes]:
    with httpx.stream(
        "GET",
        f"{api.url}/similar/{QUERY_ID}",
        params={"representation": "all", "k": 3},
        headers={"Accept": accept},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(accept)
        return [line.encode() for line in response.iter_lines() if line]


def test_ndjson_streams_the_query_then_one_block_per_representation(api: ApiServer) -> None:
    lines = [json.loads(line) for line in _lines(api, "application/x-ndjson")]

    assert lines[0]["query"]["id"] == QUERY_ID
    assert sorted(block["representation"] for block in lines[1:]) == ["global", "mid", "style"]
    assert all(len(block["hits"]) == 3 for block in lines[1:])


def test_sse_streams_result_events_and_an_end(api: ApiServer) -> None:
    lines = _lines(api, "text/event-stream")

    events = [line.split(b": ", 1)[1] for line in lines if line.startswith(b"event:")]
    assert events == [b"query", b"result", b"result", b"result", b"end"]


@pytest.mark.parametrize(
    ("path", "params", "status", "text"),
    [
        (f"/similar/{QUERY_ID}", {"representation": "colour"}, 400, "global"),
        (f"/similar/{QUERY_ID}", {"metric": "manhattan"}, 400, "l2"),
        (f"/similar/{QUERY_ID}", {"k": "0"}, 400, "between 1 and"),
        (f"/similar/{QUERY_ID}", {"k": "1000"}, 400, "between 1 and"),
        (f"/similar/{QUERY_ID}", {"k": "many"}, 400, "integer"),
        ("/similar/no/such/painting.jpg", {}, 404, "no painting"),
        ("/paintings/no/such/painting.jpg", {}, 404, "no painting"),
        ("/similar/collection/painting-059.jpg", {"representation": "mid"}, 409, "no 'mid'"),
        # Longer than any id the record contract lets in, or with a NUL: no painting, not a 500.
        (f"/paintings/{'a' * 10_000}", {}, 404, "at most 512 characters"),
        (f"/similar/{'a' * 10_000}", {}, 404, "at most 512 characters"),
        (f"/images/{'a' * 10_000}", {}, 404, "at most 512 characters"),
        (f"/thumbnails/{'a' * 10_000}", {}, 404, "at most 512 characters"),
        ("/paintings/a%00b.jpg", {}, 404, "without NUL"),
        (f"/paintings/{'a' * 512}", {}, 404, "no painting"),
    ],
)
def test_bad_requests_get_clear_errors(
    api: ApiServer, path: str, params: dict[str, str], status: int, text: str
) -> None:
    response = httpx.get(f"{api.url}{path}", params=params)

    assert response.status_code == status
    body: dict[str, Any] = response.json()
    assert text in body["error"] + json.dumps(body.get("valid", []))


def test_exact_in_a_body_must_be_true_or_false(api: ApiServer) -> None:
    response = httpx.post(
        f"{api.url}/similar",
        json={"representation": "global", "vector": [0.5] * 960, "exact": "yes"},
    )

    assert response.status_code == 400 and "exact must be true or false" in response.text


def test_a_vector_of_zeros_is_refused_for_cosine_and_searched_by_l2(api: ApiServer) -> None:
    zeros = [0.0] * 960
    cosine = httpx.post(
        f"{api.url}/similar", json={"representation": "global", "vector": zeros, "metric": "cosine"}
    )
    l2 = httpx.post(
        f"{api.url}/similar", json={"representation": "global", "vector": zeros, "metric": "l2"}
    )

    assert cosine.status_code == 400 and "no direction" in cosine.json()["error"]
    assert l2.status_code == 200, l2.text


def test_a_vector_of_the_wrong_size_is_refused(api: ApiServer) -> None:
    response = httpx.post(
        f"{api.url}/similar", json={"representation": "global", "vector": [0.5, 0.5]}
    )

    assert response.status_code == 400
    assert "960 dimensions" in response.json()["error"]


def test_elasticsearch_down_is_a_503_with_retry_after(search_index: SearchIndex) -> None:
    server = start_api(f"http://127.0.0.1:{free_port()}", search_index.name)
    try:
        similar = httpx.get(f"{server.url}/similar/{QUERY_ID}", timeout=30)
        ready = httpx.get(f"{server.url}/readyz", timeout=30)
    finally:
        server.process.terminate()
        server.process.wait(10)

    assert similar.status_code == 503
    assert similar.headers["retry-after"] == "5"
    assert ready.status_code == 503


def test_a_missing_index_is_a_503_not_an_internal_error(stack: StackSettings) -> None:
    server = start_api(stack.elasticsearch, "no-such-index")
    try:
        similar = httpx.get(f"{server.url}/similar/{QUERY_ID}", timeout=30)
        listing = httpx.get(f"{server.url}/paintings", timeout=30)
    finally:
        server.stop()

    for response in (similar, listing):
        assert response.status_code == 503, response.text
        assert "index" in response.json()["error"]
        assert response.headers["retry-after"] == "5"


def test_metrics_count_requests_by_route(api: ApiServer) -> None:
    httpx.get(f"{api.url}/paintings/{QUERY_ID}")

    text = httpx.get(f"{api.url}/metrics").text

    assert 'route="/paintings/{painting_id:path}"' in text
