"""What the model card adds to an evaluation: which representations were trained, and how well
each head classified its validation split."""

from pathlib import Path
from typing import Any

from imgsim_common.model_card import ModelCard
from imgsim_common.representations import REPRESENTATIONS
from pydantic import ValidationError

from imgsim_cli.evaluate_client import RepresentationInfo


def load_card(model_dir: Path) -> ModelCard:
    """The card in the model's folder; ValueError naming the folder when it cannot be read."""
    try:
        return ModelCard.load(model_dir)
    except (OSError, ValidationError, ValueError) as e:
        raise ValueError(f"cannot read the model card in {model_dir}: {e}") from None


def kinds(listed: list[RepresentationInfo], card: ModelCard | None) -> dict[str, str]:
    """trained, backbone or pixels: as the API says, else as the card says, else by the
    backbone's names."""
    from_card = {r.name: r.source for r in card.representations} if card else {}
    backbone = {r.name for r in REPRESENTATIONS}
    return {
        r.name: r.source
        or from_card.get(r.name)
        or ("backbone" if r.name in backbone else "unknown")
        for r in listed
    }


def heads(card: ModelCard, queries: int) -> tuple[list[dict[str, Any]], list[str]]:
    """Each head's validation accuracy as the card gives it; and a note when the card's
    validation split is not the evaluation's query set."""
    notes = []
    if card.training is not None and card.training.validation != queries:
        notes.append(
            f"the card's accuracy is on its own validation split ({card.training.validation} "
            f"images, {card.training.split}), not on these {queries} queries"
        )
    return [
        {
            "name": h.name,
            "column": h.column,
            "classes": len(h.classes),
            "validation": sum(c.validation for c in h.classes),
            "accuracy": h.accuracy,
            "balanced_accuracy": h.balanced_accuracy,
        }
        for h in card.heads
    ], notes
