"""The search for a painting's neighbours: one knn query, and the hits it keeps.

Searching by a painting finds the painting itself first. Rather than leave it out with a filter
(a filtered knn search took Elasticsearch ~25% longer on the 75,000-painting index), the query
asks for one neighbour more per painting to leave out, and `neighbours` drops them from the hits
and cuts them to `k`. The search API, the demo and the search benchmark all search this way.
Values travel only as JSON values, never as query or script text.
"""

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from imgsim_common.representations import VECTORS_FIELD, Metric, Representation, vector_field

# Elasticsearch refuses a knn search with more candidates (per shard) than this.
MAX_NUM_CANDIDATES: Final = 10_000
DEFAULT_NUM_CANDIDATES: Final = 100
# Rescoring with the float vectors gathers oversample x k candidates; Elasticsearch's mapping
# option stops at 10 (the query accepts more, but more than that is the exact search's job).
MAX_OVERSAMPLE: Final = 10.0


def metadata_filter(
    equal: Mapping[str, str] | None = None, exclude: Mapping[str, str] | None = None
) -> dict[str, Any] | None:
    """The knn filter keeping paintings whose metadata has every `equal` value and none of the
    `exclude` values (exact keyword terms); None when there is nothing to filter on."""
    must = [{"term": {f"metadata.{name}": value}} for name, value in (equal or {}).items()]
    must_not = [{"term": {f"metadata.{name}": value}} for name, value in (exclude or {}).items()]
    if not must and not must_not:
        return None
    return {"bool": {"filter": must, "must_not": must_not}}


def knn_body(
    representation: Representation,
    metric: Metric,
    vector: Sequence[float] | npt.NDArray[np.float32],
    k: int,
    *,
    leave_out: Collection[str] = (),
    filter: Mapping[str, Any] | None = None,
    num_candidates: int = DEFAULT_NUM_CANDIDATES,
    source: Sequence[str] = (),
    field: str | None = None,
    oversample: float = 0.0,
    extra: int = 0,
) -> dict[str, Any]:
    """The search body for the `k` paintings nearest to `vector` by `representation` and
    `metric`, with one more hit for each painting in `leave_out` (give it the query painting's
    id when searching by a painting). `source` names the `_source` paths the hits carry (all but
    the vectors when empty). `field` is searched instead of the representation's own (an exact
    search's float copy); `oversample` > 0 rescores oversample x k candidates of a quantized
    field with the float vectors (a float field ignores it); `extra` more hits are fetched (an
    exact search's margin for ties, see `exact_neighbours`). Raises ValueError for a vector of
    other dimensions, a `k` or an `oversample` out of range."""
    if len(vector) != representation.dims:
        raise ValueError(
            f"a {representation.name!r} vector has {representation.dims} dimensions, "
            f"got {len(vector)}"
        )
    fetch = k + len(leave_out)
    if k < 1 or fetch > MAX_NUM_CANDIDATES:
        raise ValueError(f"k must be between 1 and {MAX_NUM_CANDIDATES - len(leave_out)}, got {k}")
    if oversample and not 1.0 <= oversample <= MAX_OVERSAMPLE:
        raise ValueError(f"oversample must be 0 (off) or 1 to {MAX_OVERSAMPLE:g}, got {oversample}")
    fetch = min(MAX_NUM_CANDIDATES, fetch + extra)
    knn: dict[str, Any] = {
        "field": field or vector_field(representation.name, metric),
        "query_vector": [float(value) for value in vector],
        "k": fetch,
        "num_candidates": min(MAX_NUM_CANDIDATES, max(num_candidates, fetch)),
    }
    if oversample:
        knn["rescore_vector"] = {"oversample": oversample}
    if filter is not None:
        knn["filter"] = dict(filter)
    # Indices made before vectors left _source still hold them there: never send them back.
    kept: dict[str, Any] = {"excludes": [VECTORS_FIELD]}
    if source:
        kept["includes"] = list(source)
    return {"knn": knn, "size": fetch, "_source": kept}


def neighbours(
    hits: Iterable[Mapping[str, Any]], leave_out: Collection[str], k: int
) -> list[Mapping[str, Any]]:
    """The first `k` of a knn search's hits (Elasticsearch's `hits.hits`, nearest first) whose
    `_id` is not in `leave_out`."""
    kept = [hit for hit in hits if hit["_id"] not in leave_out]
    return kept[:k]


def exact_neighbours(
    hits: Iterable[Mapping[str, Any]], leave_out: Collection[str], k: int
) -> list[Mapping[str, Any]]:
    """The first `k` hits of an exact search not in `leave_out`, ties broken by `_id`.

    Elasticsearch breaks ties by its internal document number, which depends on indexing
    order; brute force's answer does not. The search fetched more hits than `k` (`extra`), so
    that paintings tied with the k-th are all there to choose from."""
    kept = [hit for hit in hits if hit["_id"] not in leave_out]
    kept.sort(key=lambda hit: (-float(hit["_score"]), str(hit["_id"])))
    return kept[:k]
