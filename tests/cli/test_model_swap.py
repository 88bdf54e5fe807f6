"""When a swap may move the alias, and what `imgsim model` refuses before it touches anything."""

from pathlib import Path
from typing import Any

import pytest
from imgsim_cli.main import main
from imgsim_cli.model_swap import complete
from imgsim_indexer_check.reconcile import Reconciliation


def reconciliation(**changes: Any) -> Reconciliation:
    done: dict[str, Any] = {
        "finished_at": 0.0,
        "seconds": 0.1,
        "published": 10,
        "vectorized": 9,
        "indexed": 9,
        "dead_lettered": 1,
        "removed": 0,
        "pending_vectorizing": 0,
        "pending_indexing": 0,
        "unresolved": 0,
        "missing": 0,
        "extra": 0,
        "stale": 0,
        "dead_letters_by_reason": {"missing": 1},
    }
    return Reconciliation(**(done | changes))


def test_a_new_index_holding_every_painting_or_its_dead_letter_is_complete() -> None:
    assert complete(reconciliation())


@pytest.mark.parametrize(
    "change",
    [
        {"pending_vectorizing": 1},  # the new worker has not read everything yet
        {"pending_indexing": 3},  # the new connector has not indexed everything yet
        {"missing": 1, "missing_ids": ["a.jpg"]},
        {"extra": 1, "extra_ids": ["b.jpg"]},
        {"stale": 1, "stale_ids": ["c.jpg"]},
        {"unresolved": 2, "unresolved_ids": ["d.jpg"]},
    ],
)
def test_anything_pending_or_wrong_keeps_the_alias_where_it_is(change: dict[str, Any]) -> None:
    assert not complete(reconciliation(**change))


def test_a_folder_without_a_card_is_refused_before_anything_is_provisioned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["model", "swap", str(tmp_path)]) == 2
    assert "holds no card.json" in capsys.readouterr().err
