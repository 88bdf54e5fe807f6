"""A blended search, ranked by the weighted sum of its clauses' scores, in two Elasticsearch
searches of several knn clauses each, boosted by the clauses' shares of the weights.

Elasticsearch adds up the boosted scores of the knn clauses that found a painting; a clause that
did not find it adds nothing. Searched once, a painting fairly close by every clause but in
none's own top list is missed, and one near a single clause lacks the others' scores (0, below
any real score): on the 45,000-painting bench index the top 24 of a blend of two random
paintings shared under 1% (equal weights) to 39% (0.8 / 0.2) with a search ten times deeper.
So the first search only gathers candidates, each clause's `BLEND_DEPTH` x as many nearest as
the answer is long; the second scores every candidate by every clause (each knn clause filtered
to the candidates' ids, which Elasticsearch answers by brute force over them) and ranks them by
the exact weighted sum. Clauses of one representation by cosine are exact outright (one knn
clause, see `_searched_by`). Scores are Elasticsearch's, in [0, 1] for both metrics
((1 + cosine) / 2, 1 / (1 + l2^2)), and the shares add up to 1, so a blend's score is in [0, 1]
too."""

import asyncio
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from elasticsearch import AsyncElasticsearch
from imgsim_common import similar
from imgsim_common.representations import Metric, Representation, vector_field

from imgsim_search_api.blend import BlendQuery
from imgsim_search_api.errors import RequestError
from imgsim_search_api.knn import Filters, knn_body
from imgsim_search_api.query import ResultBlock, exact_fields, kept_hits, stored_vectors
from imgsim_search_api.settings import SearchApiSettings

# How many candidates each clause of another representation gathers, as a multiple of the
# answer's length: with 24 results and two paintings left out, each clause's 208 nearest (a cap
# per artist multiplies it by knn.DIVERSITY_OVERFETCH). Against numpy's weighted sum on the
# 3,726 paintings of paintings-v1 (style of one painting with the global vector of another, 30
# pairs, k 24) the top 24 found 0.86-0.91 of the true ones at depth 4, 0.93-0.97 at 8 and
# 0.97 at 16; on the 45,000-painting bench index the two searches took 20-25, 29 and 45 ms p50.
BLEND_DEPTH: Final = 8
# What a blend's result block names as its representation.
BLENDED: Final = "blend"


@dataclass(frozen=True)
class BlendBlock(ResultBlock):
    """The one result block of a blend: its clauses, with each one's share of the score."""

    clauses: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "clauses": self.clauses}


async def clause_vectors(
    es: AsyncElasticsearch,
    index: str,
    asked: BlendQuery,
    uploaded: Mapping[str, Sequence[float]] | None = None,
) -> tuple[list[Sequence[float]], dict[str, dict[str, Any]]]:
    """Each clause's vector, in order, and the metadata of each painting searched by. The
    paintings are looked up concurrently, each once: an unknown one is a 404, one without that
    representation a 409, before any search runs. `uploaded`: the uploaded image's vectors by
    representation, for the clauses that search by it."""
    wanted: dict[str, list[Representation]] = {}
    for clause in asked.clauses:
        if clause.painting is not None:
            chosen = wanted.setdefault(clause.painting, [])
            if clause.representation not in chosen:
                chosen.append(clause.representation)
    found = await asyncio.gather(
        *(stored_vectors(es, index, p, chosen, asked.metric) for p, chosen in wanted.items())
    )
    stored = dict(zip(wanted, found, strict=True))
    vectors: list[Sequence[float]] = []
    for clause in asked.clauses:
        if clause.vector is not None:
            vectors.append(clause.vector)
        elif clause.upload:
            assert uploaded is not None  # vectorized before (app.py), or refused
            vectors.append(uploaded[clause.representation.name])
        else:
            assert clause.painting is not None  # a clause has one or the other (blend.py)
            vectors.append(stored[clause.painting][1][clause.representation.name])
    return vectors, {p: metadata for p, (metadata, _) in stored.items()}


def blend_filters(
    asked: BlendQuery,
    metadata: Mapping[str, Mapping[str, Any]],
    model_version: str | None = None,
) -> Filters:
    """The request's filters; "same style" keeps the styles of the paintings searched by (any of
    them), "exclude the artist" leaves out all of their artists. `model_version`: the upload's,
    when the index mixes versions (upload.comparable)."""

    def of(name: str) -> list[str]:
        return sorted({str(m[name]) for m in metadata.values() if m.get(name)})

    return Filters(
        equal=asked.filters,
        exclude_ids=asked.paintings,
        per_artist=asked.per_artist,
        one_of={"style": of("style")} if asked.same_style else {},
        none_of={"artist": of("artist")} if asked.exclude_artist else {},
        model_version=model_version,
    )


@dataclass(frozen=True)
class BlendPlan:
    """The blend's first search (`gather`, candidates only), what the second one answers, and
    the score its hits lack (`offset`, see `_searched_by`)."""

    gather: dict[str, Any]
    size: int  # hits of the second search: k, the paintings left out, a cap's extra
    source: dict[str, Any]
    offset: float = 0.0
    # With one knn clause, its plain search: its scores are the blend's already.
    alone: dict[str, Any] | None = None

    def scoring(self, candidates: Sequence[str]) -> dict[str, Any]:
        """The second search: every candidate scored by every clause, ranked by the sum."""
        only = {"ids": {"values": list(candidates)}}
        knn = []
        for clause in self.gather["knn"]:
            wanted = [only, clause["filter"]] if "filter" in clause else [only]
            count = len(candidates)
            knn.append(
                clause
                | {
                    "filter": {"bool": {"filter": wanted}},
                    "k": count,
                    "num_candidates": max(count, clause["num_candidates"]),
                }
            )
        return {"knn": knn, "size": min(self.size, len(candidates)), "_source": self.source}


def _searched_by(
    asked: BlendQuery, vectors: Sequence[Sequence[float]]
) -> tuple[list[tuple[Representation, list[float], float]], float]:
    """(representation, vector, boost) for each knn clause, and the score they leave out.

    By cosine, clauses of one representation are one knn clause: for unit vectors the weighted
    sum of (1 + x.q_i) / 2 over shares w_i (adding up to W) is W / 2 + x.c / 2, with c the sum of
    w_i q_i, so the nearest to c are exactly the best by the sum. Elasticsearch scores that
    clause |c| (1 + x.c/|c|) / 2: (W - |c|) / 2 less than the sum, for every painting alike,
    added back to the scores afterwards (`offset`)."""
    total = sum(c.weight for c in asked.clauses)
    groups: dict[Representation, list[tuple[float, list[float]]]] = {}
    for clause, vector in zip(asked.clauses, vectors, strict=True):
        if clause.weight:  # a clause of weight 0 searches nothing; its painting is still left out
            groups.setdefault(clause.representation, []).append(
                (clause.weight / total, [float(x) for x in vector])
            )
    searched: list[tuple[Representation, list[float], float]] = []
    offset = 0.0
    for representation, members in groups.items():
        if asked.metric is not Metric.COSINE or len(members) == 1:
            searched.extend((representation, vector, share) for share, vector in members)
            continue
        units = (
            np.array([v for _, v in members])
            / np.linalg.norm([v for _, v in members], axis=1)[:, None]
        )
        combined = np.array([share for share, _ in members]) @ units
        length = float(np.linalg.norm(combined))
        offset += (sum(share for share, _ in members) - length) / 2
        if length > 1e-9:  # else the clauses cancel out: every painting scores the same by them
            searched.append((representation, (combined / length).tolist(), length))
    if not searched:
        raise RequestError(
            400,
            "the clauses cancel each other out (opposite vectors of equal weight): every painting "
            "scores the same by them; change a weight",
        )
    return searched, offset


def blend_plan(
    asked: BlendQuery,
    vectors: Sequence[Sequence[float]],
    filters: Filters,
    settings: SearchApiSettings,
    fields: Mapping[str, str] | None = None,
) -> BlendPlan:
    """A knn clause per representation searched (see `_searched_by`), boosted by its share. A
    vector of other dimensions than its representation's is a 400 here. `fields`: each vector
    field's exact copy, for an exact search."""
    for clause, vector in zip(asked.clauses, vectors, strict=True):
        # The dimensions are checked before vectors of one representation are added up.
        knn_body(clause.representation, asked.metric, vector, asked.k, filters, settings)
    searched, offset = _searched_by(asked, vectors)
    knn: list[dict[str, Any]] = []
    body: dict[str, Any] = {}
    alone: dict[str, Any] | None = None
    for representation, vector, boost in searched:
        field_name = vector_field(representation.name, asked.metric)
        exact_field = (fields or {}).get(field_name) if asked.exact else None
        # The answer's length, before any clause looks deeper.
        body = knn_body(
            representation, asked.metric, vector, asked.k, filters, settings,
            asked.exact, exact_field,
        )  # fmt: skip
        deeper = knn_body(
            representation, asked.metric, vector, asked.k, filters, settings,
            asked.exact, exact_field, deeper=(BLEND_DEPTH - 1) * body["size"],
        )  # fmt: skip
        knn.append({**deeper["knn"], "boost": boost})
        alone = {**body, "knn": {**body["knn"], "boost": boost}}
    gathered = min(similar.MAX_NUM_CANDIDATES, sum(clause["k"] for clause in knn))
    gather = {"knn": knn, "size": gathered, "_source": False}
    return BlendPlan(
        gather, body["size"], body["_source"], offset, alone if len(knn) == 1 else None
    )


def blend_blocks(
    es: AsyncElasticsearch,
    index: str,
    settings: SearchApiSettings,
    asked: BlendQuery,
    vectors: Sequence[Sequence[float]],
    filters: Filters,
) -> AsyncGenerator[ResultBlock, None]:
    """The blend's one result block, as `respond` streams blocks. Its searches are built before
    they run, so that a bad vector is a 400 and not an error in the stream."""
    plan = blend_plan(asked, vectors, filters, settings)
    total = sum(c.weight for c in asked.clauses)
    shares = [{**c.describe(), "share": round(c.weight / total, 6)} for c in asked.clauses]
    left_out = frozenset(filters.exclude_ids)

    async def blocks() -> AsyncGenerator[ResultBlock, None]:
        started = time.perf_counter()
        searched = plan
        if asked.exact:
            fields = await exact_fields.of(es, index, settings.index_model_ttl_s)
            searched = blend_plan(asked, vectors, filters, settings, fields)
        if searched.alone is not None:
            found = (await es.search(index=index, body=searched.alone))["hits"]["hits"]
        else:
            gathered = await es.search(index=index, body=searched.gather)
            candidates = [h["_id"] for h in gathered["hits"]["hits"] if h["_id"] not in left_out]
            found = []
            if candidates:
                scoring = searched.scoring(candidates)
                found = (await es.search(index=index, body=scoring))["hits"]["hits"]
        hits = kept_hits(found, left_out, asked.k, asked.exact, asked.per_artist)
        for hit in hits:
            hit["score"] += searched.offset
        elapsed = (time.perf_counter() - started) * 1000
        yield BlendBlock(BLENDED, asked.metric.value, hits, elapsed, shares)

    return blocks()


def blend_head(asked: BlendQuery, metadata: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """What the answer says first: the blend as understood, and the paintings searched by."""
    return {
        "blend": [c.describe() for c in asked.clauses],
        "metric": asked.metric.value,
        "k": asked.k,
        "per_artist": asked.per_artist,
        "paintings": {p: {"id": p, "metadata": dict(m)} for p, m in metadata.items()},
    }
