"""`imgsim ingest DIR` against the real stack and a real worker: it follows the images to the
index and ends with the summary, and says at once when the worker cannot see DIR."""

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from imgsim_cli import child_argv
from PIL import Image

from tests.vectorizer.fixtures import WorkerRig

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def paint_folder(folder: Path, count: int) -> None:
    rng = np.random.default_rng()
    for i in range(count):
        pixels = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"ingest-{i:02d}.jpg")


def ingest(rig: WorkerRig, folder: Path, timeout_s: int = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        child_argv("ingest", str(folder), "--no-progress", "--timeout", str(timeout_s - 30)),
        env={
            **rig.env,
            "INDEXER_CHECK_DEAD_LETTER_TOPIC": rig.dead_letter_topic,
            # The rig's worker writes to the base pipeline whichever index `paintings` names (a
            # `make demo` on this stack moves it to its model's).
            "INDEXER_CHECK_FOLLOW_ALIAS": "false",
        },
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def figure(output: str, row: str) -> int:
    match = re.search(rf"{re.escape(row)}\s*│\s*(\d+)", output)
    assert match, f"no {row!r} row in:\n{output}"
    return int(match.group(1))


def test_ingest_follows_the_folder_until_every_image_is_indexed(
    worker_rig: WorkerRig, tmp_path: Path
) -> None:
    paint_folder(worker_rig.image_root, 6)
    worker_rig.start(tmp_path / "worker.log")

    done = ingest(worker_rig, worker_rig.image_root)

    assert done.returncode == 0, done.stdout + done.stderr
    assert figure(done.stdout, "published") == 6
    assert figure(done.stdout, "indexed (searchable)") == 6
    assert figure(done.stdout, "dead-lettered") == 0


def test_ingest_says_at_once_when_the_worker_cannot_see_the_folder(
    worker_rig: WorkerRig, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "my-paintings"
    elsewhere.mkdir()
    paint_folder(elsewhere, 8)
    worker_rig.start(tmp_path / "worker.log")  # its image root is another, empty folder

    done = ingest(worker_rig, elsewhere)

    assert done.returncode == 1, done.stdout + done.stderr
    assert f"the worker cannot see {elsewhere}" in done.stderr
    assert f"VECTORIZER_IMAGE_ROOT={elsewhere.resolve()}" in done.stderr
    assert "--retry-dead-letters --reason missing" in done.stderr
