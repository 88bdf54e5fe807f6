"""The model card: what a model produces and how it was made, read by every part of the pipeline.

A card is a JSON file beside each saved model (`card.json`). The vectorizer emits exactly the
card's representations, the index of a model version is mapped from it (and keeps it in the
mapping's `_meta`, where the search API reads it), and the search API validates names against
it. The backbone alone (no trained heads) has a card too, built by `backbone_card`, with the three
representations of `imgsim_common.representations.REPRESENTATIONS`.
"""

from datetime import datetime
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from imgsim_common.records import ModelInfo
from imgsim_common.representations import (
    MAX_DIMS,
    NAME_PATTERN,
    REPRESENTATIONS,
    Representation,
)

CARD_FILE: Final = "card.json"
MODEL_FILE: Final = "model.keras"
CARD_FORMAT: Final = 1


class RepresentationCard(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    dims: int = Field(gt=0, le=MAX_DIMS)
    description: str
    # "backbone": a tap of the (frozen) backbone; "trained": an embedding layer of a trained head;
    # "pixels": computed from the pixels by fixed arithmetic, with no weights (the colour layout).
    source: Literal["backbone", "trained", "pixels"] = "backbone"

    def representation(self) -> Representation:
        return Representation(self.name, self.dims, self.description)


class HeadClass(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    train: int = Field(ge=0, description="training images of this class")
    validation: int = Field(ge=0, description="validation images of this class")


class Head(BaseModel):
    """One classification head: a metadata column, its classes and how well it predicts them."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    column: str = Field(description="the metadata (CSV) column it predicts")
    classes: list[HeadClass]
    # Classes with fewer training images than `min_count` are merged into `other_class`.
    min_count: int = Field(ge=1)
    grouped: list[str] = Field(default_factory=list)
    other_class: str | None = None
    accuracy: float | None = Field(None, ge=0, le=1, description="on the validation split")
    balanced_accuracy: float | None = Field(None, ge=0, le=1)
    representation: str | None = Field(None, description="its embedding layer's representation")


class TrainingSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    images: int = Field(ge=0, description="rows of the metadata whose image decoded")
    skipped: int = Field(0, ge=0, description="rows without a usable image or label")
    train: int = Field(ge=0)
    validation: int = Field(ge=0)
    split: Literal["in_train", "stratified"]
    augmented_views: int = Field(ge=1)
    epochs: int = Field(ge=0)
    seconds: float = Field(ge=0)
    metadata: str = Field(description="the metadata file's name")
    frozen_backbone: bool = True
    rebalanced: str = Field(description="how the classifiers were rebalanced for the long tail")


class ModelCard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    card_format: int = CARD_FORMAT
    name: str = Field(min_length=1)
    version: str = Field(min_length=1, description="a hash of the weights")
    backbone: str
    input_size: int = Field(gt=0)
    weights: str = Field(description="the backbone's starting weights: imagenet, random or a file")
    representations: list[RepresentationCard] = Field(min_length=1)
    heads: list[Head] = Field(default_factory=list)
    training: TrainingSummary | None = None
    created: datetime | None = None
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> "ModelCard":
        names = [r.name for r in self.representations]
        if len(names) != len(set(names)):
            raise ValueError(f"representation names repeat: {names}")
        return self

    @property
    def trained(self) -> bool:
        """Whether training added representations of its own (the backbone alone has none)."""
        return any(r.source == "trained" for r in self.representations)

    @property
    def pipeline_version(self) -> str | None:
        """The version whose own topic, connector and index carry this model's vectors."""
        return self.version if self.trained else None

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(name=self.name, version=self.version)

    def representation_list(self) -> tuple[Representation, ...]:
        return tuple(r.representation() for r in self.representations)

    def save(self, folder: Path) -> Path:
        path = folder / CARD_FILE
        path.write_text(self.model_dump_json(indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> "ModelCard":
        """A card from its file, or from the model folder that holds it."""
        file = path / CARD_FILE if path.is_dir() else path
        try:
            return cls.model_validate_json(file.read_text())
        except FileNotFoundError as e:
            raise FileNotFoundError(f"no model card at {file}") from e


def backbone_card(backbone: str, input_size: int, weights: str, version: str) -> ModelCard:
    """The card of a backbone used as it is: its three tapped representations, no heads."""
    return ModelCard(
        name=backbone,
        version=version,
        backbone=backbone,
        input_size=input_size,
        weights=weights,
        representations=[
            RepresentationCard(name=r.name, dims=r.dims, description=r.description)
            for r in REPRESENTATIONS
        ],
        notes=[] if weights != "random" else ["untrained: random weights"],
    )
