"""A blended search's request: several clauses (a painting, a vector or the uploaded image, each
with its representation and weight) ranked as one, by the weighted sum of their scores. POST
/similar/blend takes it, as JSON, or as a form with the query in `query` and the image in `image`
when a clause searches by an upload; a wrong field or value is a 400 that gives the valid ones, as
everywhere else."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from imgsim_common.representations import METRICS, Metric, Representation

from imgsim_search_api import parameters
from imgsim_search_api.errors import RequestError
from imgsim_search_api.settings import SearchApiSettings

MAX_CLAUSES: Final = 4
# A weight is relative to the others (they are scaled to sum to 1); this bound keeps a typo of
# 1e300 from being a number Elasticsearch cannot add.
MAX_WEIGHT: Final = 100.0
# The fields of the body and of a clause (openapi_schemas.py's BlendQuery and BlendClause).
BLEND_QUERY_FIELDS: Final = (
    "clauses",
    "metric",
    "k",
    "filters",
    "exact",
    "per_artist",
    "same_style",
    "exclude_artist",
)
CLAUSE_FIELDS: Final = ("painting", "vector", "upload", "representation", "weight")
# What a clause searches by: exactly one of these.
CLAUSE_KINDS: Final = ("painting", "vector", "upload")


@dataclass(frozen=True)
class BlendClause:
    """What one clause searches by: a stored painting's vector, a given one, or the vector of
    the request's uploaded image (`upload`)."""

    representation: Representation
    weight: float
    painting: str | None = None
    vector: list[float] | None = None
    upload: bool = False

    def describe(self) -> dict[str, Any]:
        """The clause as the answer repeats it (without the vector's numbers)."""
        shown: dict[str, Any] = {"representation": self.representation.name, "weight": self.weight}
        if self.painting is not None:
            shown["painting"] = self.painting
        elif self.upload:
            shown["upload"] = True
        else:
            shown["vector"] = True
        return shown


@dataclass(frozen=True)
class BlendQuery:
    clauses: list[BlendClause]
    metric: Metric
    k: int
    filters: dict[str, str]
    exact: bool = False
    per_artist: int | None = None
    same_style: bool = False
    exclude_artist: bool = False

    @property
    def paintings(self) -> list[str]:
        """The paintings searched by, in the clauses' order, each once: left out of the results."""
        return list(dict.fromkeys(c.painting for c in self.clauses if c.painting is not None))

    @property
    def uploaded(self) -> list[Representation]:
        """The representations the uploaded image is searched by, each once (none: no upload)."""
        return list(dict.fromkeys(c.representation for c in self.clauses if c.upload))


def parse_blend_query(
    body: object, settings: SearchApiSettings, representations: Sequence[Representation]
) -> BlendQuery:
    body, metric = parameters.body_fields(
        body,
        BLEND_QUERY_FIELDS,
        '{"clauses": [{"painting" or "vector", "representation", "weight"}, ...], ...}',
    )
    query = BlendQuery(
        clauses=_clauses(body.get("clauses"), representations),
        metric=parameters.parse_metric(metric),
        k=parameters.body_k(body.get("k"), settings),
        filters=parameters.filter_object(body.get("filters")),
        exact=parameters.body_flag("exact", body.get("exact")),
        per_artist=parameters.parse_per_artist(body.get("per_artist"), settings),
        same_style=parameters.body_flag("same_style", body.get("same_style")),
        exclude_artist=parameters.body_flag("exclude_artist", body.get("exclude_artist")),
    )
    for n, clause in enumerate(query.clauses, 1):
        vector = clause.vector
        if (
            query.metric is Metric.COSINE
            and vector is not None
            and vector
            and not parameters.has_direction(vector)
        ):
            raise RequestError(
                400,
                f"clause {n}: a vector of zeros (every number smaller than "
                f"{parameters.MIN_DIRECTION:g}) has no direction, so cosine cannot compare it",
                valid=[m.value for m in METRICS],
            )
    return query


def _clauses(value: object, representations: Sequence[Representation]) -> list[BlendClause]:
    if not isinstance(value, list) or not value:
        raise RequestError(
            400,
            f"clauses must be a list of 1 to {MAX_CLAUSES} clauses, each "
            '{"painting": id, "vector": [...] or "upload": true, "representation", "weight"}',
            valid=list(CLAUSE_FIELDS),
        )
    if len(value) > MAX_CLAUSES:
        raise RequestError(
            400, f"at most {MAX_CLAUSES} clauses in one blend, got {len(value)}", valid=[]
        )
    clauses = [_clause(n, item, representations) for n, item in enumerate(value, 1)]
    if not any(c.weight for c in clauses):
        raise RequestError(
            400, "every clause weighs 0: give at least one a weight above 0", valid=[]
        )
    return clauses


def _clause(n: int, item: object, representations: Sequence[Representation]) -> BlendClause:
    if not isinstance(item, dict):
        raise RequestError(400, f"clause {n} must be an object", valid=list(CLAUSE_FIELDS))
    unknown = sorted(set(item) - set(CLAUSE_FIELDS))
    if unknown:
        raise RequestError(
            400, f"unknown field {unknown[0]!r} in clause {n}", valid=list(CLAUSE_FIELDS)
        )
    if sum(kind in item for kind in CLAUSE_KINDS) != 1:
        raise RequestError(
            400,
            f"clause {n} needs one of a painting id, a vector or the upload",
            valid=list(CLAUSE_KINDS),
        )
    if "upload" in item and item["upload"] is not True:
        raise RequestError(
            400,
            f'clause {n}: "upload" is true (the form\'s image), got {item["upload"]!r}',
            valid=[True],
        )
    known = {r.name: r for r in representations}
    name = item.get("representation")
    if not isinstance(name, str) or name not in known:
        said = "needs a representation" if name is None else f"unknown representation {name!r}"
        raise RequestError(400, f"clause {n}: {said}", valid=list(known))
    try:
        vector = parameters.body_vector(item["vector"]) if "vector" in item else None
    except RequestError as e:
        raise RequestError(e.status, f"clause {n}: {e.message}", **e.details) from None
    painting = item.get("painting")
    if "painting" in item and (not isinstance(painting, str) or not painting):
        raise RequestError(400, f"clause {n}: painting must be a painting's id, got {painting!r}")
    weight = _weight(n, item.get("weight", 1.0))
    return BlendClause(known[name], weight, painting, vector, upload="upload" in item)


def _weight(n: int, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= MAX_WEIGHT
    ):
        raise RequestError(
            400,
            f"clause {n}: weight must be a number from 0 to {MAX_WEIGHT:g}, got {value!r}",
            valid=[0, MAX_WEIGHT],
        )
    return float(value)
