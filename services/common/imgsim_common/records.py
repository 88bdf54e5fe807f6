"""Schemas of the records on the pipeline's topics (the Kafka key is always the painting id)."""

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from imgsim_common.representations import REPRESENTATIONS, by_name

MetadataValue = str | int | float | None


class ImagePathRecord(BaseModel):
    """Value of an `image-paths` record: one image to vectorize, keyed by painting id."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=512)
    # Relative to the vectorizer's image root; never allowed to point outside it.
    path: str = Field(min_length=1)
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)


class DeadLetter(BaseModel):
    """Value of an `image-paths-dlq` record: why an input could not become a vector record."""

    model_config = ConfigDict(extra="forbid")

    reason: str
    message: str
    # The input as it arrived: the parsed record, or the raw text when it did not parse.
    record: dict[str, Any] | None = None
    raw: str | None = None
    worker: str | None = None


class ModelInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str


class PaintingRecord(BaseModel):
    """Value of a `paintings` record; the sink turns it into the document with `_id` = key."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    path: str
    sha1: str = Field(pattern=r"^[0-9a-f]{40}$")
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    model: ModelInfo
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)
    vectors: dict[str, list[float]]

    @field_validator("vectors")
    @classmethod
    def _known_finite_vectors(cls, vectors: dict[str, list[float]]) -> dict[str, list[float]]:
        expected = {r.name for r in REPRESENTATIONS}
        if set(vectors) != expected:
            raise ValueError(f"vectors must hold exactly {sorted(expected)}, got {sorted(vectors)}")
        for name, vector in vectors.items():
            dims = by_name(name).dims
            if len(vector) != dims:
                raise ValueError(f"vector {name!r} has {len(vector)} dims, expected {dims}")
            if not all(math.isfinite(x) for x in vector):
                raise ValueError(f"vector {name!r} holds a NaN or infinite value")
            if not any(vector):
                # Cosine similarity is undefined for it, and Elasticsearch rejects it.
                raise ValueError(f"vector {name!r} is all zeros")
        return vectors

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
