"""Search API benchmark: similar-by-id through the API vs the same Elasticsearch queries sent
directly, at 1, 8 and 32 concurrent clients, in one run.

Needs the stack (`make up`). The index of synthetic paintings (all representations, the real
mapping) is built once per size and kept: `bench-paintings-<N>`.
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx
import numpy as np
from elasticsearch import AsyncElasticsearch, Elasticsearch
from elasticsearch.helpers import parallel_bulk
from imgsim_common import mapping, similar
from imgsim_common.doc_values import hit_vectors, vector_lookup
from imgsim_common.representations import METRICS, REPRESENTATIONS, Metric, by_name, vector_field


def _up_to_date(es: Elasticsearch, name: str, count: int, mappings: dict[str, Any]) -> bool:
    """Built before, with every document, and with today's `_source` rule for vectors."""
    if not es.indices.exists(index=name) or es.count(index=name)["count"] != count:
        return False
    live = es.indices.get_mapping(index=name)[name]["mappings"]
    return bool(live.get("_source") == mappings["_source"])


def build_index(es: Elasticsearch, name: str, count: int) -> None:
    mappings = mapping.mappings()
    if _up_to_date(es, name, count, mappings):
        return
    es.options(ignore_status=404).indices.delete(index=name)
    es.indices.create(
        index=name,
        mappings=mappings,
        settings={"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "-1"},
    )
    rng = np.random.default_rng(0)

    def documents() -> Any:
        for i in range(count):
            vectors = {
                r.name: rng.standard_normal(r.dims).astype(np.float32) for r in REPRESENTATIONS
            }
            yield {
                "_index": name,
                "_id": f"bench/{i:06d}.jpg",
                "_source": {
                    "id": f"bench/{i:06d}.jpg",
                    "metadata": {"artist": f"artist {i % 500}", "style": f"style {i % 30}"},
                    "vectors": {
                        n: {m.value: v.round(5).tolist() for m in METRICS}
                        for n, v in vectors.items()
                    },
                },
            }

    started = time.perf_counter()
    # Two bulk requests at a time: one shard indexes each on its own write thread.
    bulk = parallel_bulk(
        es.options(request_timeout=300), documents(), thread_count=2, chunk_size=250
    )
    for done, (ok, item) in enumerate(bulk, start=1):
        if not ok:
            raise RuntimeError(f"indexing failed: {item}")
        if done % 5000 == 0:
            print(f"  indexed {done}/{count} ({done / (time.perf_counter() - started):.0f}/s)")
    es.indices.put_settings(index=name, settings={"refresh_interval": "1s"})
    es.indices.refresh(index=name)
    print("  merging segments (once per index size)")
    es.options(request_timeout=3600).indices.forcemerge(index=name, max_num_segments=1)


async def load(
    call: Callable[[str], Awaitable[None]], ids: list[str], clients: int, requests: int
) -> tuple[list[float], float]:
    latencies: list[float] = []
    queue = iter(ids[i % len(ids)] for i in range(requests))

    async def client() -> None:
        for painting_id in queue:
            started = time.perf_counter()
            await call(painting_id)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, requests / (time.perf_counter() - started)


def percentiles(latencies: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(latencies, n=100)
    return cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000


async def run(api_url: str, es_url: str, index: str, ids: list[str], requests: int) -> None:
    # Both paths use the same HTTP client library (aiohttp, which the Elasticsearch client runs
    # on) and the same number of connections, so the difference is the API's own. (httpx alone
    # adds ~0.9 ms a request here; with the client's default of 10 connections per node, 32
    # direct clients queue in the client's pool, not in Elasticsearch.)
    es = AsyncElasticsearch(es_url, request_timeout=30, connections_per_node=64)
    http = aiohttp.ClientSession(
        api_url,
        connector=aiohttp.TCPConnector(limit=64),
        timeout=aiohttp.ClientTimeout(total=30),
    )
    global_ = by_name("global")
    field = vector_field(global_.name, Metric.COSINE)

    async def through_api(painting_id: str) -> None:
        params = {"representation": "global", "k": "10"}
        async with http.get(f"/similar/{painting_id}", params=params) as response:
            response.raise_for_status()
            body = await response.json()
        assert len(body["results"][0]["hits"]) == 10

    async def direct(painting_id: str) -> None:
        # What the API sends: the painting's stored vector (from doc values), then the knn query
        # for one neighbour more, the painting itself being dropped from the hits.
        found = await es.search(index=index, body=vector_lookup(painting_id, [field], ["metadata"]))
        vector = hit_vectors(found["hits"]["hits"][0])[field]
        body = similar.knn_body(global_, Metric.COSINE, vector, 10, leave_out=[painting_id])
        response = await es.search(index=index, body=body)
        hits = similar.neighbours(response["hits"]["hits"], [painting_id], 10)
        assert len(hits) == 10

    try:
        for warm in (through_api, direct):
            await load(warm, ids, 4, 100)
        print(f"{'clients':>7} {'path':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>8}")
        for clients in (1, 8, 32):
            figures = {}
            for name, call in (("direct", direct), ("api", through_api)):
                latencies, throughput = await load(call, ids, clients, requests)
                figures[name] = percentiles(latencies)
                p50, p95, p99 = figures[name]
                print(f"{clients:>7} {name:>6} {p50:8.1f} {p95:8.1f} {p99:8.1f} {throughput:8.1f}")
            ratio = figures["api"][0] / figures["direct"][0]
            print(
                f"{clients:>7} API p50 / direct p50 = {ratio:.2f} (target <= 1.2)"
                + (f"; API p95 {figures['api'][1]:.0f} ms (target < 100)" if clients == 8 else "")
            )
    finally:
        await http.close()
        await es.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=75_000)
    parser.add_argument("--requests", type=int, default=400, help="requests per level and path")
    parser.add_argument("--elasticsearch", default="http://127.0.0.1:9200")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    index = f"bench-paintings-{args.documents}"
    es = Elasticsearch(args.elasticsearch, request_timeout=60)
    print(f"index {index}")
    build_index(es, index, args.documents)
    rng = np.random.default_rng(1)
    ids = [f"bench/{i:06d}.jpg" for i in rng.choice(args.documents, 200, replace=False)]
    env = {
        **os.environ,
        "SEARCH_API_ELASTICSEARCH_URL": args.elasticsearch,
        "SEARCH_API_INDEX": index,
        "SEARCH_API_UPLOAD_ENABLED": "false",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "imgsim_search_api.app:create_app",
            "--factory",
            "--port",
            str(args.port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    try:
        url = f"http://127.0.0.1:{args.port}"
        for _ in range(100):
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        asyncio.run(run(url, args.elasticsearch, index, ids, args.requests))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
