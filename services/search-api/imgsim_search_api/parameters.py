"""A request's parameters, checked against the lists they name: a wrong one is a 400 that gives
the valid values, whether it comes in the query string or in a JSON body."""

import json
import re
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
# A JSON body: a blend of four 960-number vectors is about 100 kB.
MAX_JSON_BODY_BYTES = 1 << 20
# An integer as the OpenAPI document states one: ASCII digits, no sign, space or underscore,
# which int() would also take (and other scripts' digits).
INTEGER = re.compile(r"-?[0-9]+")


def integers_up_to(maximum: int) -> str:
    """A pattern for the decimal strings of 1 to `maximum` that `parse_bounded` takes."""
    text = str(maximum)
    shorter = f"|[1-9][0-9]{{0,{len(text) - 2}}}" if len(text) > 1 else ""
    return f"0*(?:{_same_length_up_to(text, first=True)}{shorter})"


def _same_length_up_to(text: str, first: bool = False) -> str:
    """Strings of len(text) digits, at most `text` (not starting with 0 when `first`)."""
    low = 1 if first else 0
    top = int(text[0])
    if len(text) == 1:
        return f"[{low}-{top}]"
    alternatives = [f"[{low}-{top - 1}][0-9]{{{len(text) - 1}}}"] if top > low else []
    alternatives.append(text[0] + _same_length_up_to(text[1:]))
    return "(?:" + "|".join(alternatives) + ")"


async def json_body(request: Request) -> Any:
    """The request's JSON body; 413 past MAX_JSON_BODY_BYTES, before the rest is read."""
    too_large = RequestError(413, f"the body is larger than {MAX_JSON_BODY_BYTES} bytes")
    declared = request.headers.get("content-length", "")
    if INTEGER.fullmatch(declared) and int(declared) > MAX_JSON_BODY_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_JSON_BODY_BYTES:
            raise too_large
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise RequestError(400, "the body must be JSON") from None


def painting_id(request: Request) -> str:
    """The painting id of a route's path. One longer than any id the record contract lets in
    names no painting: 404 here, before Elasticsearch refuses the request line as too long."""
    found: str = request.path_params["painting_id"]
    # Empty: the path ends at the route's slash, or (its pattern's `$` matching before a final
    # newline) in "%0A". No painting has an empty id, and Elasticsearch's client refuses one.
    if not found or len(found) > contract.MAX_ID_LENGTH or "\x00" in found:
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
    if not INTEGER.fullmatch(text) or len(text) > 100:
        raise RequestError(400, f"{name} must be an integer, got {text[:100]!r}")
    value = int(text)
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
    value = whole(value)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise RequestError(400, f"per_artist must be an integer, got {value!r}")
    return parse_bounded("per_artist", str(value), 1, settings.max_k)


def whole(value: object) -> object:
    """A JSON number with no fraction as an int: JSON (and its Schema) has one kind of number,
    and 3.0 is the integer 3."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


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
    if query.metric is Metric.COSINE and query.vector and not has_direction(query.vector):
        raise RequestError(
            400,
            f"a vector of zeros (every number smaller than {MIN_DIRECTION:g}) has no direction, "
            "so cosine cannot compare it: send another vector, or use the l2 metric",
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


# The index holds vectors as 32-bit floats and adds up their squares (a cosine's magnitude, an l2
# distance): past this size in the sum overflows, and a vector searched by cosine needs a number
# at least MIN_DIRECTION in size, whose square is not 0 as a 32-bit float.
MAX_VECTOR_VALUE = 1e15
MIN_DIRECTION = 1e-18


def has_direction(vector: Sequence[float]) -> bool:
    return any(abs(x) >= MIN_DIRECTION for x in vector)


def body_vector(value: object) -> list[float]:
    if value is None:
        raise RequestError(400, "the body needs the vector: a list of numbers")
    # Compared, not converted: an integer of 400 digits is no float, and NaN compares false.
    if not isinstance(value, list) or not all(
        isinstance(x, int | float)
        and not isinstance(x, bool)
        and -MAX_VECTOR_VALUE <= x <= MAX_VECTOR_VALUE
        for x in value
    ):
        raise RequestError(
            400,
            f"the vector must be a list of finite numbers from -{MAX_VECTOR_VALUE:g} to "
            f"{MAX_VECTOR_VALUE:g}",
        )
    return value


def body_flag(name: str, value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    raise RequestError(400, f"{name} must be true or false, got {value!r}", valid=[True, False])


def body_k(value: object, settings: SearchApiSettings) -> int:
    value = whole(value)
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


@dataclass(frozen=True)
class SearchParameters:
    """What a similar search by a painting or an upload asks in its query string."""

    representations: list[Representation]
    metric: Metric
    k: int
    exact: bool


def parse_search(
    params: Mapping[str, str],
    representations: Sequence[Representation],
    metrics_of: Callable[[str], Sequence[Metric]],
    settings: SearchApiSettings,
) -> SearchParameters:
    """`representation`, `metric`, `k` and `exact`, checked against what the index holds."""
    chosen = parse_representations(params.get("representation"), representations)
    metric = parse_metric(params.get("metric"))
    require_mapped(chosen, metric, metrics_of)
    return SearchParameters(
        chosen,
        metric,
        parse_k(params.get("k"), settings),
        parse_flag("exact", params.get("exact")),
    )
