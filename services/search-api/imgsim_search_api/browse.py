"""Browsing: a filtered listing with stable paging (`search_after` on the id), and a random
sample. Filters travel as JSON values only."""

import base64
import json
from collections.abc import Mapping
from typing import Any

from elasticsearch import AsyncElasticsearch
from imgsim_common.representations import VECTORS_FIELD

from imgsim_search_api import folding
from imgsim_search_api.errors import RequestError
from imgsim_search_api.parameters import (
    FILTER_FIELDS,
    INTEGER,
    checked_text,
    parse_bounded,
    parse_filters,
)

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 24


def page_size(text: str | None) -> int:
    return parse_bounded("size", text, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


# Years as the index maps them (an integer field): a bound outside would be Elasticsearch's
# error, not the client's answer.
YEARS = range(-9999, 10000)


def _year(name: str, text: str | None) -> int | None:
    if text is None or text == "":
        return None
    if not INTEGER.fullmatch(text) or len(text) > 100:
        raise RequestError(400, f"{name} must be a year, got {text[:100]!r}")
    year = int(text)
    if year not in YEARS:
        raise RequestError(
            400, f"{name} must be a year from {YEARS.start} to {YEARS.stop - 1}, got {year}"
        )
    return year


# The words of `q` each matched from their start; more only narrow the titles' text match.
MAX_TITLE_WORDS = 8
# Facets: the most frequent values of each filter field under the current filters.
FACET_SIZE = 50


def _title_query(text: str) -> dict[str, Any]:
    """Titles by their words (scored), or by the start of every word typed in any accents
    ("cafe terr" finds "Le Café, Terrasse")."""
    words = checked_text("q", text).split()[:MAX_TITLE_WORDS]
    every_word = [folding.word_start_query("metadata.title", word) for word in words]
    return {
        "bool": {
            "should": [
                {"match": {"metadata.title.text": {"query": text}}},
                {"bool": {"filter": every_word}},
            ],
            "minimum_should_match": 1,
        }
    }


def filter_query(params: Mapping[str, str]) -> dict[str, Any]:
    # As a person types them: any case and accents, the whole value or the start of any of its
    # words ("circle", "Circ" and "painter" all find "Circle Painter", "dali" finds "Dalí").
    clauses: list[dict[str, Any]] = [
        folding.word_start_query(f"metadata.{name}", text)
        for name, text in parse_filters(params).items()
    ]
    year_from, year_to = (
        _year("year_from", params.get("year_from")),
        _year("year_to", params.get("year_to")),
    )
    if year_from is not None or year_to is not None:
        bounds = {"gte": year_from, "lte": year_to}
        clauses.append(
            {"range": {"metadata.year": {k: v for k, v in bounds.items() if v is not None}}}
        )
    must = []
    if params.get("q"):
        must.append(_title_query(params["q"]))
    return {"bool": {"filter": clauses, "must": must}}


def encode_cursor(sort_values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(sort_values).encode()).decode()


# The answer to a cursor this API did not give out (the OpenAPI document quotes it).
NOT_GIVEN_OUT = "after is not a cursor this API gave out"


def decode_cursor(text: str) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(text.encode()))
    except (ValueError, UnicodeDecodeError):
        raise RequestError(400, NOT_GIVEN_OUT) from None
    # The listing sorts by the id alone: its cursor is one id. Another shape would be refused by
    # Elasticsearch (its 400 the API's 500), or page by something no listing sorts by.
    if not isinstance(values, list) or len(values) != 1 or not isinstance(values[0], str):
        raise RequestError(400, NOT_GIVEN_OUT)
    return values


def _painting(hit: dict[str, Any]) -> dict[str, Any]:
    return {"id": hit["_id"], **hit.get("_source", {})}


async def listing(es: AsyncElasticsearch, index: str, params: Mapping[str, str]) -> dict[str, Any]:
    size = page_size(params.get("size"))
    body: dict[str, Any] = {
        "query": filter_query(params),
        "size": size,
        # The id is unique and never changes: paging on it neither skips nor repeats.
        "sort": [{"id": "asc"}],
        "_source": {"excludes": [VECTORS_FIELD]},
        # How many match, exactly, and the values to narrow by, with their counts.
        "track_total_hits": True,
        "aggs": {
            name: {"terms": {"field": f"metadata.{name}", "size": FACET_SIZE}}
            for name in FILTER_FIELDS
        },
    }
    if params.get("after"):
        body["search_after"] = decode_cursor(params["after"])
    response = await es.search(index=index, body=body)
    hits = response["hits"]["hits"]
    following = encode_cursor(hits[-1]["sort"]) if len(hits) == size else None
    aggregations = response.get("aggregations", {})
    return {
        "paintings": [_painting(hit) for hit in hits],
        "next": following,
        "total": response["hits"]["total"]["value"],
        "facets": {
            name: [
                {"value": bucket["key"], "count": bucket["doc_count"]}
                for bucket in aggregations.get(name, {}).get("buckets", [])
            ]
            for name in FILTER_FIELDS
        },
    }


async def random_sample(
    es: AsyncElasticsearch, index: str, params: Mapping[str, str]
) -> dict[str, Any]:
    size = page_size(params.get("size"))
    score: dict[str, Any] = {"field": "_seq_no"}
    if params.get("seed"):
        score["seed"] = params["seed"]
    body = {
        "query": {
            "function_score": {
                "query": filter_query(params),
                "random_score": score if "seed" in score else {},
                "boost_mode": "replace",
            }
        },
        "size": size,
        "_source": {"excludes": [VECTORS_FIELD]},
    }
    response = await es.search(index=index, body=body)
    return {"paintings": [_painting(hit) for hit in response["hits"]["hits"]]}
