"""Schemas of the records on the pipeline's topics (the Kafka key is always the painting id)."""

import math
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from imgsim_common.representations import MAX_DIMS, NAME_PATTERN

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
    def _finite_vectors(cls, vectors: dict[str, list[float]]) -> dict[str, list[float]]:
        # Which names and dimensions are right is the model card's business, and the index of
        # the model version (mapped from the card, strictly) refuses any other.
        if not vectors:
            raise ValueError("vectors must hold at least one representation")
        for name, vector in vectors.items():
            if not re.match(NAME_PATTERN, name):
                raise ValueError(f"vector name {name!r} does not match {NAME_PATTERN}")
            if not 0 < len(vector) <= MAX_DIMS:
                raise ValueError(f"vector {name!r} has {len(vector)} dims, not 1..{MAX_DIMS}")
            if not all(math.isfinite(x) for x in vector):
                raise ValueError(f"vector {name!r} holds a NaN or infinite value")
            if not any(vector):
                # Cosine similarity is undefined for it, and Elasticsearch rejects it.
                raise ValueError(f"vector {name!r} is all zeros")
        return vectors

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
