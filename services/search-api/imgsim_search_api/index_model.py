"""What the index behind the alias holds: the concrete index, its representations with the
metrics mapped for each, and the model whose vectors it holds.

The API checks names and dimensions against this, not against a constant, so it follows whichever
model's index the alias points at. A model version's index keeps its card in the mapping's
`_meta` (`imgsim_common.mapping.model_index`). The base index, made from the template, has no
card: its representations are read from the mapping's `vectors.*` fields and its model from what
its paintings name. `index_watch.IndexWatch` keeps the answer fresh.
"""

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from elasticsearch import AsyncElasticsearch
from imgsim_common.mapping import META_KEY
from imgsim_common.model_card import ModelCard
from imgsim_common.records import ModelInfo
from imgsim_common.representations import (
    METRICS,
    REPRESENTATIONS,
    VECTORS_FIELD,
    Metric,
    Representation,
)
from pydantic import ValidationError

log = logging.getLogger(__name__)

UNDESCRIBED: Final = "a representation of the index's model (no model card describes it)"
# More versions than this in one index is a mess to clean up, not a list to show in full.
MAX_VERSIONS: Final = 20


class IndexNotUnderstood(Exception):
    """The index is there but cannot be searched as the product's index (no vectors mapped)."""


@dataclass(frozen=True)
class IndexedRepresentation:
    representation: Representation
    metrics: tuple[Metric, ...]
    # "backbone", "trained" or "pixels" as the card says; None when no card says.
    source: str | None


@dataclass(frozen=True)
class ModelVersion:
    """A model version as the paintings name it, and how many paintings name it."""

    info: ModelInfo
    paintings: int


@dataclass(frozen=True)
class IndexModel:
    alias: str
    indexes: tuple[str, ...]
    indexed: tuple[IndexedRepresentation, ...]
    # The one model whose vectors the index holds; None when that is not known.
    model: ModelInfo | None
    model_from: Literal["card", "paintings"] | None
    # What the paintings name (with no card); several when the index mixes models.
    versions: tuple[ModelVersion, ...] = ()
    note: str | None = None
    card: ModelCard | None = None

    @property
    def index(self) -> str:
        """What to search: the concrete index, or the alias when it spans several."""
        return self.indexes[0] if len(self.indexes) == 1 else self.alias

    @property
    def representations(self) -> tuple[Representation, ...]:
        return tuple(r.representation for r in self.indexed)

    @property
    def metrics(self) -> tuple[Metric, ...]:
        mapped = {m for r in self.indexed for m in r.metrics}
        return tuple(m for m in METRICS if m in mapped)

    def metrics_of(self, name: str) -> tuple[Metric, ...]:
        return next((r.metrics for r in self.indexed if r.representation.name == name), ())

    @property
    def default_representation(self) -> str:
        """The one a person sees first: a trained one if the model has any, else `global`."""
        names = [r.representation.name for r in self.indexed]
        trained = [r.representation.name for r in self.indexed if r.source == "trained"]
        return trained[0] if trained else "global" if "global" in names else names[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "indexes": list(self.indexes),
            "model": None if self.model is None else self.model.model_dump(),
            "model_from": self.model_from,
            "models": [{**v.info.model_dump(), "paintings": v.paintings} for v in self.versions],
            "model_note": self.note,
        }


@dataclass(frozen=True)
class _MappedIndex:
    name: str
    card: ModelCard | None
    # name -> (dims, metrics), as the mapping has them
    vectors: Mapping[str, tuple[int, tuple[Metric, ...]]]


async def learn(es: AsyncElasticsearch, alias: str) -> IndexModel:
    """Asks Elasticsearch; its errors (a missing index, no connection) come out as they are."""
    answer = await es.indices.get_mapping(index=alias)
    mapped = [_mapped_index(name, answer[name].get("mappings", {})) for name in sorted(answer)]
    if not mapped:
        raise IndexNotUnderstood(f"{alias!r} names no index")
    indexed = _common_representations(mapped)
    if not indexed:
        names = ", ".join(m.name for m in mapped)
        raise IndexNotUnderstood(
            f"{names} maps no {VECTORS_FIELD}.<representation>.<metric> vector field "
            "(not an index of paintings, or made without the product's mapping)"
        )
    indexes = tuple(m.name for m in mapped)
    cards = {m.card.version: m.card for m in mapped if m.card is not None}
    if len(cards) == 1 and all(m.card is not None for m in mapped):
        (card,) = cards.values()
        return IndexModel(alias, indexes, indexed, card.info, "card", card=card)
    model, versions, note = await _painted_model(es, alias)
    source: Literal["paintings"] | None = None if model is None else "paintings"
    return IndexModel(alias, indexes, indexed, model, source, versions, note)


def _mapped_index(name: str, mappings: Mapping[str, Any]) -> _MappedIndex:
    vectors: dict[str, tuple[int, tuple[Metric, ...]]] = {}
    fields = mappings.get("properties", {}).get(VECTORS_FIELD, {}).get("properties", {})
    for representation, field in fields.items():
        dims: set[int] = set()
        metrics: list[Metric] = []
        for metric in METRICS:
            vector = field.get("properties", {}).get(metric.value, {})
            if vector.get("type") == "dense_vector" and isinstance(vector.get("dims"), int):
                dims.add(vector["dims"])
                metrics.append(metric)
        if len(dims) == 1:  # two widths for one representation: no vector fits both
            vectors[representation] = (dims.pop(), tuple(metrics))
    return _MappedIndex(name, _card(name, mappings.get("_meta")), vectors)


def _card(index: str, meta: object) -> ModelCard | None:
    if not isinstance(meta, dict) or not isinstance(meta.get(META_KEY), dict):
        return None
    try:
        return ModelCard.model_validate(meta[META_KEY].get("model_card"))
    except ValidationError as e:
        # A card of a newer format, or a damaged one: the mapping and the paintings still say
        # what the index holds.
        log.warning("the model card in %s's _meta cannot be read: %s", index, e)
        return None


def _common_representations(mapped: Sequence[_MappedIndex]) -> tuple[IndexedRepresentation, ...]:
    """Those every index maps with the same dims, with the metrics all of them map."""
    first = mapped[0]
    card = first.card
    if card is not None:
        order = [r.name for r in card.representations]
    else:
        known = [r.name for r in REPRESENTATIONS]
        order = [n for n in known if n in first.vectors]
        order += sorted(n for n in first.vectors if n not in known)
    found = []
    for name in order:
        if name not in first.vectors:
            continue
        dims = first.vectors[name][0]
        shapes = [m.vectors.get(name, (0, ())) for m in mapped]
        if any(other_dims != dims for other_dims, _ in shapes):
            continue
        metrics = tuple(m for m in METRICS if all(m in metrics for _, metrics in shapes))
        if metrics:
            found.append(_indexed(name, dims, metrics, card))
    return tuple(found)


def _indexed(
    name: str, dims: int, metrics: tuple[Metric, ...], card: ModelCard | None
) -> IndexedRepresentation:
    # The dims are the mapping's: Elasticsearch refuses any other, whatever a card says.
    described = next((r for r in card.representations if r.name == name), None) if card else None
    if described is not None:
        return IndexedRepresentation(
            Representation(name, dims, described.description), metrics, described.source
        )
    backbone = next((r for r in REPRESENTATIONS if r.name == name), None)
    if backbone is not None:
        return IndexedRepresentation(
            Representation(name, dims, backbone.description), metrics, "backbone"
        )
    return IndexedRepresentation(Representation(name, dims, UNDESCRIBED), metrics, None)


async def _painted_model(
    es: AsyncElasticsearch, index: str
) -> tuple[ModelInfo | None, tuple[ModelVersion, ...], str | None]:
    """The model the paintings name (`model.name`, `model.version`): one version, or why not."""
    versions_by_name = {
        "terms": {"field": "model.version", "size": MAX_VERSIONS},
        "aggs": {"names": {"terms": {"field": "model.name", "size": 1}}},
    }
    body = {"size": 0, "track_total_hits": True, "aggs": {"versions": versions_by_name}}
    response = await es.search(index=index, body=body)
    total = int(response["hits"]["total"]["value"])
    versions = tuple(
        ModelVersion(
            ModelInfo(
                name=str(b["names"]["buckets"][0]["key"]) if b["names"]["buckets"] else "",
                version=str(b["key"]),
            ),
            int(b["doc_count"]),
        )
        for b in response["aggregations"]["versions"]["buckets"]
    )
    if total == 0:
        return None, versions, "the index holds no painting yet: its model is not known"
    if not versions:
        return None, versions, "no painting in the index names its model"
    if len(versions) > 1:
        listed = ", ".join(f"{v.info.version} ({v.paintings})" for v in versions)
        return None, versions, f"the paintings were vectorized by several model versions: {listed}"
    (only,) = versions
    unnamed = total - only.paintings
    note = f"{unnamed} of {total} paintings name no model" if unnamed else None
    return only.info, versions, note
