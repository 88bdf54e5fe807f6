"""The search benchmark's index: the corpus's vectors under the product's mapping (exact copies
included), built once per corpus and index options and kept; and what its fields cost on disk."""

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
from elasticsearch import Elasticsearch
from elasticsearch.helpers import parallel_bulk
from imgsim_common import mapping
from imgsim_common.representations import Representation

Vectors = dict[str, npt.NDArray[np.float32]]
CHUNK_SIZE = 200


def representations(vectors: Vectors) -> list[Representation]:
    return [Representation(name, v.shape[1], name) for name, v in vectors.items()]


def index_name(version: str, count: int, vector_index: mapping.VectorIndex) -> str:
    graph = "" if vector_index.m is None else f"-m{vector_index.m}"
    graph += "" if vector_index.ef_construction is None else f"-ef{vector_index.ef_construction}"
    copies = "" if vector_index.copies else "-nocopy"
    kind = vector_index.kind.replace("_", "")
    return f"bench-search-{version}-{count}-{kind}{graph}{copies}".lower()


def build(
    es: Elasticsearch,
    name: str,
    ids: list[str],
    vectors: Vectors,
    index: mapping.VectorIndex,
    merge: bool = True,
) -> None:
    """Indexes every painting as the sink would (the vector once per field the mapping has),
    then merges to one segment; does nothing when the index is there with every painting, and
    goes on from where a run cut short stopped (paintings are indexed in corpus order)."""
    indexed = es.count(index=name)["count"] if es.indices.exists(index=name) else None
    if indexed == len(ids):
        return
    if indexed is None:
        es.indices.create(
            index=name,
            mappings=mapping.mappings(representations(vectors), index),
            settings={"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "-1"},
        )
    # Two bulk requests run at once and may end out of order: index those again (an _id
    # overwrites, never duplicates).
    start = max(0, (indexed or 0) - 2 * CHUNK_SIZE)
    fields = mapping.sink_vector_fields(index)

    def documents() -> Iterator[dict[str, Any]]:
        for i in range(start, len(ids)):
            painting_id = ids[i]
            yield {
                "_index": name,
                "_id": painting_id,
                "_source": {
                    "id": painting_id,
                    "metadata": {"artist": painting_id.split("-")[0]},
                    # float32 values as doubles: Elasticsearch reads back the very float32.
                    "vectors": {
                        n: dict.fromkeys(fields, v[i].tolist()) for n, v in vectors.items()
                    },
                },
            }

    started = time.perf_counter()
    bulk = parallel_bulk(
        es.options(request_timeout=600), documents(), thread_count=2, chunk_size=CHUNK_SIZE
    )
    for done, (ok, item) in enumerate(bulk, start=start + 1):
        if not ok:
            raise RuntimeError(f"indexing failed: {item}")
        if done % 10_000 == 0:
            print(f"  indexed {done}/{len(ids)} ({done / (time.perf_counter() - started):.0f}/s)")
    es.indices.refresh(index=name)
    if not merge:
        return
    es.indices.put_settings(index=name, settings={"refresh_interval": "1s"})
    print(f"  indexed in {time.perf_counter() - started:.0f} s; merging to one segment")
    merging = time.perf_counter()
    es.options(request_timeout=7200).indices.forcemerge(index=name, max_num_segments=1)
    print(f"  merged in {time.perf_counter() - merging:.0f} s")


def vector_bytes(es: Elasticsearch, name: str) -> dict[str, int]:
    """Bytes on disk per vector field (vectors, graph, quantized copies): Elasticsearch's
    `_disk_usage` analysis, which reads every file once."""
    answer = es.options(request_timeout=600).perform_request(
        "POST",
        f"/{name}/_disk_usage",
        params={"run_expensive_tasks": "true"},
        headers={"accept": "application/json"},
    )
    fields = answer.body[name]["fields"]
    return {
        field: int(usage.get("knn_vectors_in_bytes", 0))
        for field, usage in fields.items()
        if field.startswith("vectors.") and usage.get("knn_vectors_in_bytes", 0)
    }
