"""A request's parameters, checked against the lists they name: a wrong one is a 400 that gives
the valid values, whether it comes in the query string or in a JSON body."""

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from imgsim_common import contract
from imgsim_common.representations import METRICS, Metric, Representation
from starlette.requests import Request

from imgsim_search_api.errors import RequestError
from imgsim_search_api.knn import Filters
from imgsim_search_api.settings import SearchApiSettings

FILTER_FIELDS = ("artist", "style", "genre")
# The fields of POST /similar's body (openapi.py's VectorQuery).
VECTOR_QUERY_FIELDS = ("representation", "metric", "vector", "k", "filters", "exact")


def painting_id(request: Request) -> str:
    """The painting id of a route's path. One longer than any id the record contract lets in
    names no painting: 404 here, before Elasticsearch refuses the request line as too long."""
    found: str = request.path_params["painting_id"]
    if len(found) > contract.MAX_ID_LENGTH or "\x00" in found:
        raise RequestError(
            404,
            f"no painting {found[:80]!r}{'...' if len(found) > 80 else ''}: painting ids are "
            f"at most {contract.MAX_ID_LENGTH} characters, without NUL",
        )
    return found


def parse_representations(
    text: str | None, representations: Sequence[Representation]
) -> list[Representation]:
    """Names (or `all`) among `representations`: those of the index searched."""
    if text is None or text == "all":
        return list(representations)
    known = {r.name: r for r in representations}
    chosen: list[Representation] = []
    for name in (part.strip() for part in text.split(",")):
        if name not in known:
            raise RequestError(400, f"unknown representation {name!r}", valid=[*known, "all"])
        if known[name] not in chosen:
            chosen.append(known[name])
    return chosen


def parse_metric(text: str | None) -> Metric:
    if text is None:
        return Metric.COSINE
    try:
        return Metric(text)
    except ValueError:
        raise RequestError(
            400, f"unknown metric {text!r}", valid=[m.value for m in METRICS]
        ) from None


def parse_bounded(name: str, text: str | None, default: int, maximum: int) -> int:
    """An integer parameter from 1 to `maximum`; `default` when it is absent."""
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise RequestError(400, f"{name} must be an integer, got {text!r}") from None
    if not 1 <= value <= maximum:
        raise RequestError(400, f"{name} must be between 1 and {maximum}, got {value}")
    return value


def require_mapped(
    representations: Sequence[Representation],
    metric: Metric,
    metrics_of: Callable[[str], Sequence[Metric]],
) -> None:
    """A representation mapped for some metrics only is searched by those only."""
    for representation in representations:
        mapped = metrics_of(representation.name)
        if metric not in mapped:
            raise RequestError(
                400,
                f"the index maps representation {representation.name!r} for "
                f"{' and '.join(mapped)} only, not {metric.value}",
                valid=list(mapped),
            )


def parse_vectors_option(
    text: str | None, representations: Sequence[Representation]
) -> list[Representation]:
    """GET /paintings/{id}'s `vectors`: none by default, `true` or `all` for every one, or
    names joined by commas."""
    if text is None or text.lower() in ("0", "false", "no"):
        return []
    if text.lower() in ("1", "true", "yes"):
        return list(representations)
    try:
        return parse_representations(text, representations)
    except RequestError as e:
        raise RequestError(
            400, f"vectors: {e.message}; or true or false", valid=[*e.details["valid"], "true"]
        ) from None


def parse_k(text: str | None, settings: SearchApiSettings) -> int:
    return parse_bounded("k", text, settings.default_k, settings.max_k)


def parse_flag(name: str, text: str | None) -> bool:
    if text is None:
        return False
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise RequestError(400, f"{name} must be true or false, got {text!r}")


def parse_per_artist(value: object, settings: SearchApiSettings) -> int | None:
    """At most this many results by one artist (from 1 to max_k); absent or empty: no cap."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise RequestError(400, f"per_artist must be an integer, got {value!r}")
    return parse_bounded("per_artist", str(value), 1, settings.max_k)


# The longest filter value or title query taken, in characters: names and titles are far shorter,
# and each character becomes a class of letters in the query (folding.py).
MAX_FILTER_LENGTH = 200


def checked_text(name: str, text: str) -> str:
    if len(text) > MAX_FILTER_LENGTH:
        raise RequestError(
            400, f"{name} is longer than {MAX_FILTER_LENGTH} characters ({len(text)})"
        )
    return text


def parse_filters(params: Mapping[str, str]) -> dict[str, str]:
    """The filters given a value (blank ones are none), each matched forgivingly (folding.py)."""
    return {
        name: checked_text(name, params[name])
        for name in FILTER_FIELDS
        if (params.get(name) or "").strip()
    }


@dataclass(frozen=True)
class VectorQuery:
    """POST /similar's body: the neighbours of one vector by its one representation."""

    representation: Representation
    metric: Metric
    vector: list[float]
    k: int
    filters: Filters
    exact: bool = False


def body_fields(body: object, fields: Sequence[str], shape: str) -> tuple[dict[str, Any], Any]:
    """A JSON body that is an object of known `fields` (`shape` says how it looks), and its
    metric as given (checked by `parse_metric`)."""
    if not isinstance(body, dict):
        raise RequestError(400, f"the body must be an object {shape}", valid=list(fields))
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise RequestError(400, f"unknown field {unknown[0]!r} in the body", valid=list(fields))
    metric = body.get("metric")
    if metric is not None and not isinstance(metric, str):
        raise RequestError(400, f"unknown metric {metric!r}", valid=[m.value for m in METRICS])
    return body, metric


def parse_vector_query(
    body: object, settings: SearchApiSettings, representations: Sequence[Representation]
) -> VectorQuery:
    body, metric = body_fields(
        body, VECTOR_QUERY_FIELDS, '{"representation", "vector": [...], ...}'
    )
    query = VectorQuery(
        representation=one_representation(body.get("representation"), representations),
        metric=parse_metric(metric),
        vector=body_vector(body.get("vector")),
        k=body_k(body.get("k"), settings),
        filters=Filters(equal=filter_object(body.get("filters"))),
        exact=body_flag("exact", body.get("exact")),
    )
    if query.metric is Metric.COSINE and query.vector and not any(query.vector):
        raise RequestError(
            400,
            "a vector of zeros has no direction, so cosine cannot compare it: send another "
            "vector, or use the l2 metric",
            valid=[m.value for m in METRICS],
        )
    return query


def one_representation(value: object, representations: Sequence[Representation]) -> Representation:
    """A vector is of one representation: neither `all` nor a list names it."""
    known = {r.name: r for r in representations}
    if isinstance(value, str) and value in known:
        return known[value]
    message = (
        "the body needs the vector's representation"
        if value is None
        else f"representation must name the vector's one representation, got {value!r}"
    )
    raise RequestError(400, message, valid=list(known))


def body_vector(value: object) -> list[float]:
    if value is None:
        raise RequestError(400, "the body needs the vector: a list of numbers")
    if not isinstance(value, list) or not all(
        isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in value
    ):
        raise RequestError(400, "the vector must be a list of finite numbers")
    return value


def body_flag(name: str, value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    raise RequestError(400, f"{name} must be true or false, got {value!r}", valid=[True, False])


def body_k(value: object, settings: SearchApiSettings) -> int:
    if value is None or isinstance(value, str):
        return parse_k(value, settings)
    if isinstance(value, int) and not isinstance(value, bool):
        return parse_k(str(value), settings)
    raise RequestError(400, f"k must be an integer, got {value!r}")


def filter_object(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequestError(
            400,
            f'filters must be an object such as {{"artist": "Monet"}}, got {value!r}',
            valid=list(FILTER_FIELDS),
        )
    unknown = sorted(set(value) - set(FILTER_FIELDS))
    if unknown:
        raise RequestError(400, f"unknown filter {unknown[0]!r}", valid=list(FILTER_FIELDS))
    values: dict[str, Any] = value
    for name, text in values.items():
        if text is not None and not isinstance(text, str):
            raise RequestError(400, f"the {name} filter must be a string, got {text!r}")
    return parse_filters(values)
