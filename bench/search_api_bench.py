"""Search benchmark on paintings vectorized by the product's own trained model (75,000 by
default; bench/search_corpus.py builds and caches them): recall@10 against numpy brute force,
similar-by-id latency through the API and directly against Elasticsearch at 1, 8 and 32 clients,
for the default search settings and others; `exact=true` checked against brute force; what the
vector fields and their exact copies cost on disk. One run, in this order.

Needs the stack (`make up`). The index is built once per corpus and index options and kept.
"""

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import httpx
import numpy as np

# Siblings: run as `python bench/search_api_bench.py`, this folder is on the path.
import search_corpus
import search_exact
import search_index
import search_recall
from elasticsearch import AsyncElasticsearch, Elasticsearch
from imgsim_common import mapping, similar
from imgsim_common.doc_values import hit_vectors, vector_lookup
from imgsim_common.representations import METRICS, Metric, Representation, vector_field
from imgsim_search_api import knn
from imgsim_search_api.settings import SearchApiSettings

K = 10
# name -> the search API's settings; the first is the default.
SETTINGS: dict[str, dict[str, Any]] = {
    "default (candidates 100, rescore x3)": {},
    "candidates 100, no rescore": {"rescore_oversample": 0},
    "candidates 50, rescore x2": {
        "min_num_candidates": 50,
        "num_candidates_factor": 5,
        "rescore_oversample": 2,
    },
    "candidates 200, rescore x3": {"min_num_candidates": 200, "num_candidates_factor": 20},
}


@contextlib.contextmanager
def api_server(es_url: str, index: str, port: int, settings: dict[str, Any]) -> Iterator[str]:
    env = {
        **os.environ,
        "SEARCH_API_ELASTICSEARCH_URL": es_url,
        "SEARCH_API_INDEX": index,
        "SEARCH_API_UPLOAD_ENABLED": "false",
        "SEARCH_API_CHECKER_URL": "",
        **{f"SEARCH_API_{name.upper()}": str(value) for name, value in settings.items()},
    }
    command = [sys.executable, "-m", "uvicorn", "imgsim_search_api.app:create_app", "--factory"]
    server = subprocess.Popen([*command, "--port", str(port), "--log-level", "warning"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(10)


async def load(
    call: Callable[[str], Awaitable[None]], ids: list[str], clients: int, requests: int
) -> list[float]:
    latencies: list[float] = []
    queue = iter(ids[i % len(ids)] for i in range(requests))

    async def client() -> None:
        for painting_id in queue:
            started = time.perf_counter()
            await call(painting_id)
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies


def p50_p95(latencies: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(latencies, n=100)
    return cuts[49] * 1000, cuts[94] * 1000


async def latency(
    api_url: str,
    es_url: str,
    index: str,
    name: str,
    settings: SearchApiSettings,
    ids: list[str],
    requests: int,
) -> None:
    # Same client library (aiohttp, which the Elasticsearch client runs on) and as many
    # connections on both paths: the difference is the API's own.
    es = AsyncElasticsearch(es_url, request_timeout=30, connections_per_node=64)
    http = aiohttp.ClientSession(api_url, connector=aiohttp.TCPConnector(limit=64))
    field = vector_field(name, Metric.COSINE)

    async def through_api(painting_id: str) -> None:
        params = {"representation": name, "k": str(K)}
        async with http.get(f"/similar/{painting_id}", params=params) as response:
            response.raise_for_status()
            assert len((await response.json())["results"][0]["hits"]) == K

    async def direct(painting_id: str) -> None:
        # What the API sends: the stored vector, then the knn query its settings make.
        found = await es.search(index=index, body=vector_lookup(painting_id, [field], ["metadata"]))
        vector = hit_vectors(found["hits"]["hits"][0])[field]
        shaped = Representation(name, len(vector), name)
        body = knn.knn_body(
            shaped, Metric.COSINE, vector, K, knn.Filters(exclude_ids=[painting_id]), settings
        )
        response = await es.search(index=index, body=body)
        assert len(similar.neighbours(response["hits"]["hits"], [painting_id], K)) == K

    try:
        for warm in (through_api, direct):
            await load(warm, ids, 4, 100)
        for clients in (1, 8, 32):
            figures = {}
            for path, call in (("direct", direct), ("api", through_api)):
                figures[path] = p50_p95(await load(call, ids, clients, requests))
            (d50, d95), (a50, a95) = figures["direct"], figures["api"]
            print(
                f"    {clients:>2} clients: direct p50 {d50:5.1f} p95 {d95:5.1f} ms | "
                f"API p50 {a50:5.1f} p95 {a95:5.1f} ms | API/direct p50 {a50 / d50:.2f}"
            )
    finally:
        await http.close()
        await es.close()


def recall_table(
    es: Elasticsearch,
    index: str,
    ids: list[str],
    vectors: search_index.Vectors,
    truth: dict[tuple[str, Metric], list[search_recall.Neighbours]],
    queries: list[int],
) -> None:
    columns = list(truth)
    print(f"  recall@{K} ({len(queries)} paintings, the painting itself left out)")
    print(f"    {'setting':<28}" + "".join(f"{f'{n}/{m.value}':>22}" for n, m in columns))
    for label, overrides in SETTINGS.items():
        settings = SearchApiSettings(**overrides)
        cells = []
        for name, metric in columns:
            shaped = Representation(name, vectors[name].shape[1], name)
            found = []
            for q, true in zip(queries, truth[name, metric], strict=True):
                filters = knn.Filters(exclude_ids=[ids[q]])
                body = knn.knn_body(shaped, metric, vectors[name][q].tolist(), K, filters, settings)
                hits = es.search(index=index, body=body | {"_source": False})["hits"]["hits"]
                kept = similar.neighbours(hits, [ids[q]], K)
                found.append(search_recall.recall([h["_id"] for h in kept], true))
            cells.append(f"{statistics.mean(found):>22.3f}")
        print(f"    {label:<28}" + "".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=75_000)
    parser.add_argument("--requests", type=int, default=400, help="requests per level and path")
    parser.add_argument("--queries", type=int, default=200, help="paintings recall is measured on")
    parser.add_argument("--exact-queries", type=int, default=50)
    parser.add_argument("--index-options", default="int8_hnsw", choices=mapping.INDEX_OPTIONS)
    parser.add_argument("--m", type=int)
    parser.add_argument("--ef-construction", type=int)
    parser.add_argument("--representations", default="trained_style")
    parser.add_argument("--elasticsearch", default="http://127.0.0.1:9200")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    version, ids, all_vectors = search_corpus.corpus(args.documents)
    vectors = {n: all_vectors[n] for n in args.representations.split(",")}
    vector_index = mapping.VectorIndex(args.index_options, args.m, args.ef_construction)
    index = search_index.index_name(version, len(ids), vector_index)
    es = Elasticsearch(args.elasticsearch, request_timeout=120)
    print(f"corpus: {len(ids)} paintings vectorized by model {version}; index {index}")
    search_index.build(es, index, ids, vectors, vector_index)
    on_disk = search_index.vector_bytes(es, index)
    copies = sum(b for f, b in on_disk.items() if f.endswith(mapping.EXACT_SUFFIX))
    print(
        f"  vector fields on disk: {sum(on_disk.values()) / 2**20:.0f} MB, of which the exact "
        f"copies {copies / 2**20:.0f} MB ({copies / len(ids):.0f} bytes a painting)"
    )
    rng = np.random.default_rng(1)
    queries = sorted(rng.choice(len(ids), args.queries, replace=False).tolist())
    brute = {n: search_recall.BruteForce(ids, v) for n, v in vectors.items()}
    truth = {
        (n, m): brute[n].neighbours(vectors[n][queries], m, K, [ids[q] for q in queries])
        for n in vectors
        for m in METRICS
    }
    recall_table(es, index, ids, vectors, truth, queries)
    first = next(iter(vectors))
    latency_ids = [ids[q] for q in queries]
    for n, (label, overrides) in enumerate(SETTINGS.items()):
        with api_server(args.elasticsearch, index, args.port + n, overrides) as url:
            if n == 0:
                few = queries[: args.exact_queries]
                subset = {key: trues[: len(few)] for key, trues in truth.items()}
                search_exact.exact_check(es, url, index, ids, vectors, brute, subset, few)
            print(f"  latency, similar-by-id k={K}, {first}/cosine, setting {label!r}")
            asyncio.run(
                latency(
                    url,
                    args.elasticsearch,
                    index,
                    first,
                    SearchApiSettings(**overrides),
                    latency_ids,
                    args.requests,
                )
            )


if __name__ == "__main__":
    main()
