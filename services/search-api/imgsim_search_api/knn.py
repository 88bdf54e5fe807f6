"""The knn search of a similarity query, built by `imgsim_common.similar` as the demo's and the
search benchmark's are: one neighbour more per painting left out (the painting searched by),
which `similar.neighbours` then drops from the hits."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from imgsim_common import similar
from imgsim_common.representations import Metric, Representation

from imgsim_search_api import folding
from imgsim_search_api.errors import RequestError
from imgsim_search_api.settings import SearchApiSettings

EXACT_TIE_MARGIN: Final = 10
# With a cap per artist, this many times k hits are fetched and capped in the API (see `capped`).
DIVERSITY_OVERFETCH: Final = 4


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
    # Metadata that must be one of several values, or none of them (a blend's "same style" and
    # "exclude the artist" when its paintings have several).
    one_of: Mapping[str, Sequence[str]] = field(default_factory=dict)
    none_of: Mapping[str, Sequence[str]] = field(default_factory=dict)
    # At most this many neighbours by one artist (None: no cap). Capped in the API over a deeper
    # fetch rather than by Elasticsearch's `collapse`: collapse keeps one hit per artist, its
    # inner_hits cost one more search per artist shown, and it groups every painting without an
    # artist as one artist.
    per_artist: int | None = None

    def extra_hits(self, k: int) -> int:
        """How many hits more than `k` to fetch, so that k remain after the cap per artist."""
        return 0 if self.per_artist is None else k * (DIVERSITY_OVERFETCH - 1)

    def clause(self) -> dict[str, Any] | None:
        clause = similar.metadata_filter(exclude=self.exclude) or {
            "bool": {"filter": [], "must_not": []}
        }
        wanted, unwanted = clause["bool"]["filter"], clause["bool"]["must_not"]
        # Typed filters match as the listing's do: any case and accents, the start of a word.
        wanted.extend(
            folding.word_start_query(f"metadata.{n}", text) for n, text in self.equal.items()
        )
        if self.model_version is not None:
            wanted.append({"term": {"model.version": self.model_version}})
        wanted.extend({"terms": {f"metadata.{n}": list(v)}} for n, v in self.one_of.items() if v)
        unwanted.extend({"terms": {f"metadata.{n}": list(v)}} for n, v in self.none_of.items() if v)
        return clause if wanted or unwanted else None


def capped(
    hits: Sequence[Mapping[str, Any]], k: int, per_artist: int | None
) -> list[Mapping[str, Any]]:
    """The first `k` hits, at most `per_artist` by any one artist, in their order; a painting
    without an artist is nobody's and never capped."""
    if per_artist is None:
        return list(hits[:k])
    seen: dict[str, int] = {}
    kept: list[Mapping[str, Any]] = []
    for hit in hits:
        artist = (hit.get("_source") or {}).get("metadata", {}).get("artist")
        if artist:
            seen[artist] = seen.get(artist, 0) + 1
            if seen[artist] > per_artist:
                continue
        kept.append(hit)
        if len(kept) == k:
            break
    return kept


def knn_body(
    representation: Representation,
    metric: Metric,
    vector: Sequence[float],
    k: int,
    filters: Filters,
    settings: SearchApiSettings,
    exact: bool = False,
    exact_field: str | None = None,
    deeper: int = 0,
) -> dict[str, Any]:
    """The search body; a vector of other dimensions than the representation's is a 400.
    `deeper`: that many more hits (a blend's clause, a cap per artist), on top of the filters'
    own `extra_hits`.

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
    extra += deeper + filters.extra_hits(k)
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
