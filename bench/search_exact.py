"""`exact=true` through the search API checked against numpy's brute force on the bench
index, beside the exact search an index without float copies could make (the field itself,
every candidate, rescored x10)."""

import statistics
import time

import httpx
import search_index
import search_recall
from elasticsearch import Elasticsearch
from imgsim_common import similar
from imgsim_common.representations import Metric, Representation
from imgsim_search_api import knn
from imgsim_search_api.settings import SearchApiSettings

K = 10


def exact_check(
    es: Elasticsearch,
    api_url: str,
    index: str,
    ids: list[str],
    vectors: search_index.Vectors,
    brute: dict[str, search_recall.BruteForce],
    truth: dict[tuple[str, Metric], list[search_recall.Neighbours]],
    queries: list[int],
) -> None:
    print(f"  exact=true against brute force ({len(queries)} paintings per column)")
    for (name, metric), trues in truth.items():
        shaped = Representation(name, vectors[name].shape[1], name)
        api_equal = effort_equal = 0
        api_ms: list[float] = []
        effort_ms: list[float] = []
        for q, true in zip(queries, trues, strict=True):
            scores = {i: brute[name].score(i, vectors[name][q], metric) for i in true.ids}
            params = {"representation": name, "metric": metric.value, "k": K, "exact": "true"}
            started = time.perf_counter()
            answer = httpx.get(f"{api_url}/similar/{ids[q]}", params=params, timeout=60).json()
            api_ms.append((time.perf_counter() - started) * 1000)
            hits = answer["results"][0]["hits"]
            scores |= {h["id"]: brute[name].score(h["id"], vectors[name][q], metric) for h in hits}
            api_equal += search_recall.exactly(hits, true, scores)
            # The exact search an index without float copies can make: the field itself.
            body = knn.knn_body(
                shaped,
                metric,
                vectors[name][q].tolist(),
                K,
                knn.Filters(exclude_ids=[ids[q]]),
                SearchApiSettings(),
                exact=True,
            )
            started = time.perf_counter()
            found = es.search(index=index, body=body | {"_source": False})["hits"]["hits"]
            effort_ms.append((time.perf_counter() - started) * 1000)
            kept = [
                {"id": h["_id"], "score": h["_score"]}
                for h in similar.exact_neighbours(found, [ids[q]], K)
            ]
            scores |= {h["id"]: brute[name].score(h["id"], vectors[name][q], metric) for h in kept}
            effort_equal += search_recall.exactly(kept, true, scores)
        print(
            f"    {name}/{metric.value}: API exact=true (float copy) equal "
            f"{api_equal}/{len(trues)}, p50 {statistics.median(api_ms):.0f} ms | without the "
            f"copy (every candidate, rescored x10) equal {effort_equal}/{len(trues)}, "
            f"p50 {statistics.median(effort_ms):.0f} ms"
        )
