"""The knn search of a similarity query, built by `imgsim_common.similar` as the demo's and the
search benchmark's are: one neighbour more per painting left out (the painting searched by),
which `similar.neighbours` then drops from the hits."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from imgsim_common import similar
from imgsim_common.representations import Metric, Representation

from imgsim_search_api.errors import RequestError
from imgsim_search_api.settings import SearchApiSettings

EXACT_TIE_MARGIN: Final = 10


@dataclass(frozen=True)
class Filters:
    """Metadata a neighbour must have (`equal`) or must not have (`exclude`), and paintings left
    out of the results."""

    equal: Mapping[str, str] = field(default_factory=dict)
    exclude: Mapping[str, str] = field(default_factory=dict)
    # Left out of the results by asking for that many more neighbours and dropping them, not by
    # a filter: a filtered knn search took Elasticsearch ~25% longer on the 75,000-painting index.
    exclude_ids: Sequence[str] = ()
    # Only paintings vectorized by this model version: an upload compared with an index that
    # mixes versions is compared with its own model's vectors alone.
    model_version: str | None = None

    def clause(self) -> dict[str, Any] | None:
        clause = similar.metadata_filter(self.equal, self.exclude)
        if self.model_version is None:
            return clause
        clause = clause or {"bool": {"filter": [], "must_not": []}}
        clause["bool"]["filter"].append({"term": {"model.version": self.model_version}})
        return clause


def knn_body(
    representation: Representation,
    metric: Metric,
    vector: Sequence[float],
    k: int,
    filters: Filters,
    settings: SearchApiSettings,
    exact: bool = False,
    exact_field: str | None = None,
) -> dict[str, Any]:
    """The search body; a vector of other dimensions than the representation's is a 400.

    An exact search reads `exact_field`, the index's float `flat` copy of the vector field (or
    the field itself when it is `flat`): brute force, as exact as numpy. With no such field (an
    index made before the copies, or without them), it does what it can: every candidate
    allowed, rescored with the float vectors, still approximate on a graph."""
    if exact:
        best_effort = exact_field is None
        candidates = similar.MAX_NUM_CANDIDATES if best_effort else 0
        oversample = similar.MAX_OVERSAMPLE if best_effort else 0.0
        # Enough more hits that every painting tied with the k-th is there to choose from.
        extra = k + EXACT_TIE_MARGIN
    else:
        candidates = max(settings.min_num_candidates, k * settings.num_candidates_factor)
        oversample, extra = settings.rescore_oversample, 0
    try:
        return similar.knn_body(
            representation,
            metric,
            vector,
            k,
            leave_out=filters.exclude_ids,
            filter=filters.clause(),
            num_candidates=candidates,
            field=exact_field,
            oversample=oversample,
            extra=extra,
        )
    except ValueError as e:
        raise RequestError(400, str(e)) from None
