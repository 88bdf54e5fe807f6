"""The demo: its painted collection, and the whole run on the real stack."""

import csv
import re
import subprocess
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from imgsim_cli import child_argv
from imgsim_cli.demo import ARTISTS, SOURCE, paint_collection, painting_name
from imgsim_common import names
from imgsim_common.representations import METRICS, REPRESENTATIONS
from imgsim_stack.settings import StackSettings
from PIL import Image

from tests.support import ONNX_CACHE

REPRESENTATION_NAMES = {r.name for r in REPRESENTATIONS}
METRIC_NAMES = {m.value for m in METRICS}


def test_the_collection_is_painted_with_one_csv_row_per_painting(tmp_path: Path) -> None:
    csv_path, total = paint_collection(tmp_path, per_artist=2)

    assert total == len(ARTISTS) * 2
    with csv_path.open() as lines:
        rows = list(csv.DictReader(lines))
    assert len(rows) == total
    for row in rows:
        with Image.open(tmp_path / row["new_filename"]) as image:
            assert image.size == (480, 360)
    first = (tmp_path / rows[0]["new_filename"]).read_bytes()
    paint_collection(tmp_path / "again", per_artist=2)
    assert (tmp_path / "again" / rows[0]["new_filename"]).read_bytes() == first


def shown_neighbours(output: str) -> dict[tuple[str, str], list[str]]:
    """The demo's table of neighbours as printed: (representation, metric) -> titles, nearest
    first. The table is drawn with box characters, or with ASCII ones on a terminal without them."""
    rows: dict[tuple[str, str], list[str]] = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in re.split(r"[│┃|]", line)[1:-1]]
        if len(cells) > 2 and cells[0] in REPRESENTATION_NAMES and cells[1] in METRIC_NAMES:
            rows[cells[0], cells[1]] = [title for title in cells[2:] if title]
    return rows


def test_the_printed_table_is_read_back_row_by_row() -> None:
    printed = """
┏━━━━━━━━━━━━━━━━┳━━━━━━━━┳━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ representation ┃ metric ┃ #1            ┃ #2            ┃
┡━━━━━━━━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ global         │ cosine │ Stripes No. 2 │ Waves No. 1   │
│ style          │ l2     │ Grid No. 1    │               │
└────────────────┴────────┴───────────────┴───────────────┘
"""
    assert shown_neighbours(printed) == {
        ("global", "cosine"): ["Stripes No. 2", "Waves No. 1"],
        ("style", "l2"): ["Grid No. 1"],
    }


def nearest_titles(es: Elasticsearch, painting_id: str, representation: str, k: int) -> list[str]:
    """The `k` demo paintings nearest to `painting_id` by cosine, asked of the index here, with
    a query written out in full rather than through the code the demo runs."""
    field = f"vectors.{representation}.cosine"
    # Vectors are not in _source: they come back from doc values.
    stored = es.search(
        index=names.PAINTINGS_ALIAS,
        body={
            "query": {"ids": {"values": [painting_id]}},
            "docvalue_fields": [field],
            "_source": False,
        },
    )
    vector = stored["hits"]["hits"][0]["fields"][field][0]
    found = es.search(
        index=names.PAINTINGS_ALIAS,
        knn={
            "field": field,
            "query_vector": vector,
            "k": k + 1,
            "num_candidates": 100,
            "filter": {"term": {"metadata.source": SOURCE}},
        },
        size=k + 1,
        source_includes=["metadata.title"],
    )
    hits = [hit for hit in found["hits"]["hits"] if hit["_id"] != painting_id]
    return [hit["_source"]["metadata"]["title"] for hit in hits[:k]]


@pytest.mark.integration
@pytest.mark.slow
def test_the_demo_shows_the_neighbours_the_index_returns(
    stack: StackSettings, es: Elasticsearch, tmp_path: Path
) -> None:
    # Issue 9, defect 6: this test checked only text the demo always prints.
    result = subprocess.run(
        [
            *child_argv("demo"),
            "--dir",
            str(tmp_path / "demo"),
            "--per-artist",
            "2",
            "--elasticsearch",
            stack.elasticsearch,
            "--timeout",
            "300",
        ],
        env={
            "PATH": "/usr/bin:/bin",
            # Wide enough that no title is wrapped or cut.
            "COLUMNS": "400",
            "VECTORIZER_KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap_servers,
            "VECTORIZER_ONNX_CACHE_DIR": str(ONNX_CACHE),
            "VECTORIZER_CONSUMER_GROUP": f"test-demo-{tmp_path.name}",
            "VECTORIZER_DATA_DIR": str(tmp_path / "faust"),
        },
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    painting = painting_name(ARTISTS[0], 0)
    assert f"most similar to {painting}" in result.stdout
    shown = shown_neighbours(result.stdout)
    # Without VECTORIZER_WEIGHTS the weights are untrained, and the demo shows cosine only.
    assert sorted(shown) == [(name, "cosine") for name in sorted(REPRESENTATION_NAMES)]
    for (representation, _), titles in shown.items():
        assert titles == nearest_titles(es, painting, representation, k=5), representation
        assert len(titles) == 5, "the index holds at least 12 demo paintings"
