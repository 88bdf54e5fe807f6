"""The demo: its painted collection, and the whole run on the real stack."""

import csv
import subprocess
from pathlib import Path

import pytest
from imgsim_cli import child_argv
from imgsim_cli.demo import ARTISTS, paint_collection
from imgsim_stack.settings import StackSettings
from PIL import Image

from tests.vectorizer.fixtures import ONNX_CACHE


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


@pytest.mark.integration
def test_the_demo_ingests_and_searches(stack: StackSettings, tmp_path: Path) -> None:
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
            "VECTORIZER_KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap_servers,
            "VECTORIZER_ONNX_CACHE_DIR": str(ONNX_CACHE),
            "VECTORIZER_CONSUMER_GROUP": f"test-demo-{tmp_path.name}",
        },
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "most similar to stripes-00.jpg" in result.stdout
    for representation in ("global", "mid", "style"):
        assert representation in result.stdout
