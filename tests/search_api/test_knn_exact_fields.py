"""Which field an exact search reads, from the index's mapping."""

import asyncio
from typing import Any

from imgsim_common import mapping
from imgsim_search_api.exact_fields import ExactFields, exact_fields_of


def test_an_index_with_copies_is_searched_exactly_on_the_copies() -> None:
    fields = exact_fields_of(mapping.mappings(index_options="int8_hnsw"))

    assert fields["vectors.global.cosine"] == "vectors.global.cosine_exact"
    assert fields["vectors.style.l2"] == "vectors.style.l2_exact"
    assert not any(field.endswith("_exact") for field in fields)


def test_a_flat_index_is_exact_itself_and_an_index_without_copies_is_not() -> None:
    flat = exact_fields_of(mapping.mappings(index_options="flat"))
    without = mapping.VectorIndex("int8_hnsw", exact_copies=False)

    assert flat["vectors.mid.l2"] == "vectors.mid.l2"
    assert exact_fields_of(mapping.mappings(index_options=without)) == {}


class MappingStandIn:
    """Elasticsearch as ExactFields asks it: mappings, and paintings lacking a copy by field."""

    def __init__(self, answer: dict[str, Any], lacking: dict[str, int] | None = None) -> None:
        self.answer = answer
        self.lacking = lacking or {}
        self.asked = 0
        self.indices = self

    async def get_mapping(self, index: str) -> dict[str, Any]:
        self.asked += 1
        return self.answer

    async def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        asked = body["aggs"]["lacking"]["filters"]["filters"]
        buckets = {field: {"doc_count": self.lacking.get(field, 0)} for field in asked}
        return {"aggregations": {"lacking": {"buckets": buckets}}}


def test_a_field_some_painting_lacks_the_copy_of_is_not_searched_on_the_copies() -> None:
    es = MappingStandIn(
        {"paintings-a": {"mappings": mapping.mappings(index_options="int4_hnsw")}},
        lacking={"vectors.mid.l2": 3},
    )

    fields = asyncio.run(ExactFields().of(es, "paintings-a", 5))  # type: ignore[arg-type]

    assert "vectors.mid.l2" not in fields
    assert fields["vectors.mid.cosine"] == "vectors.mid.cosine_exact"


def test_behind_an_alias_a_field_is_exact_only_where_every_index_is_and_answers_are_kept() -> None:
    es = MappingStandIn(
        {
            "paintings-a": {"mappings": mapping.mappings(index_options="int8_hnsw")},
            "paintings-b": {"mappings": mapping.mappings(index_options="flat")},
        }
    )
    known = ExactFields()

    async def twice() -> dict[str, str]:
        await known.of(es, "paintings", 60)  # type: ignore[arg-type]
        return await known.of(es, "paintings", 60)  # type: ignore[arg-type]

    assert asyncio.run(twice()) == {}
    assert es.asked == 1
