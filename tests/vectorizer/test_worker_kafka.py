"""The vectorizer worker on the real stack: a folder in, documents and dead letters out."""

import csv
import json
import os
import re
import signal
import struct
import time
import zlib
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from elasticsearch import Elasticsearch
from imgsim_common import names
from imgsim_common.representations import METRICS, REPRESENTATIONS, vector_field
from PIL import Image

from tests.support import eventually, free_port, read_topic, stored_vectors
from tests.vectorizer.fixtures import WorkerRig

pytestmark = pytest.mark.integration

rng = np.random.default_rng(11)


def _noise(width: int, height: int) -> Image.Image:
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _huge_png(path: Path, width: int, height: int) -> None:
    """A small PNG whose header claims width x height: a decompression bomb's shape."""
    Image.new("L", (8, 8)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17]))
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))


def make_folder(root: Path, tag: str) -> tuple[dict[str, str], dict[str, str]]:
    """Good images (id -> title) and bad files (id -> expected dead-letter reason)."""
    folder = root / tag
    folder.mkdir()
    good: dict[str, str] = {}
    _noise(320, 240).save(folder / "rgb.jpg", quality=90)
    _noise(200, 300).convert("L").save(folder / "gray.png")
    _noise(256, 256).convert("CMYK").save(folder / "cmyk.jpg")
    _noise(100, 80).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette.gif")
    rgba = _noise(120, 120).convert("RGBA")
    rgba.putalpha(128)
    rgba.save(folder / "alpha.png")
    _noise(2400, 1800).save(folder / "large.jpg", quality=85)
    for name in ("rgb.jpg", "gray.png", "cmyk.jpg", "palette.gif", "alpha.png", "large.jpg"):
        good[f"{tag}/{name}"] = f"Painting {name}"
    bad = {
        f"{tag}/empty.jpg": "empty",
        f"{tag}/text.jpg": "not_an_image",
        f"{tag}/truncated.jpg": "corrupt",
        f"{tag}/corrupt.png": "corrupt",
        f"{tag}/bomb.png": "too_many_pixels",
    }
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("this is not a painting")
    whole = folder / "whole.jpg"
    _noise(400, 300).save(whole, quality=90)
    (folder / "truncated.jpg").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    whole.unlink()
    _noise(64, 64).save(folder / "png.png")
    data = bytearray((folder / "png.png").read_bytes())
    data[60:120] = os.urandom(60)
    (folder / "corrupt.png").write_bytes(bytes(data))
    (folder / "png.png").unlink()
    _huge_png(folder / "bomb.png", 100_000, 100_000)
    (folder / "notes.txt").write_text("not an image suffix: never published")
    return good, bad


def write_metadata(path: Path, titles: dict[str, str], tag: str) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["artist", "date", "genre", "style", "title", "source", "new_filename"])
        for painting_id, title in titles.items():
            name = painting_id.rsplit("/", 1)[1]
            writer.writerow(["Test Artist", "c.1889", "landscape", "", title, tag, name])


def _source(es: Elasticsearch, painting_id: str) -> dict[str, Any] | None:
    found = es.options(ignore_status=404).get(index=names.BASE_PIPELINE.index, id=painting_id)
    source: dict[str, Any] | None = found.get("_source")
    return source


def dead_letters(rig: WorkerRig, expected: int, timeout_s: float = 120) -> dict[str, Any]:
    """Dead letters by painting id (records whose value did not parse have none)."""
    messages = read_topic(
        rig.stack.bootstrap_servers,
        rig.dead_letter_topic,
        lambda read: len(read) >= expected,
        timeout_s,
    )
    letters = [json.loads(m.value() or b"{}") for m in messages]
    return {letter["record"]["id"] if letter["record"] else "": letter for letter in letters}


def test_a_folder_becomes_documents_and_bad_files_become_dead_letters(
    worker_rig: WorkerRig, es: Elasticsearch, tmp_path: Path
) -> None:
    good, bad = make_folder(worker_rig.image_root, worker_rig.tag)
    csv_path = tmp_path / "all_data_info.csv"
    write_metadata(csv_path, good, worker_rig.tag)
    worker_rig.start(tmp_path / "worker.log")

    published = worker_rig.publish(worker_rig.image_root, "--metadata", str(csv_path))
    assert published.returncode == 0, published.stderr

    for painting_id, title in good.items():
        doc = eventually(partial(_source, es, painting_id), 240, what=f"{painting_id} indexed")
        assert doc["metadata"]["title"] == title
        assert doc["metadata"]["artist"] == "Test Artist"
        assert doc["metadata"]["year"] == 1889
        assert doc["model"]["name"] == "MobileNetV3Large"
        vectors = stored_vectors(es, painting_id)
        for representation in REPRESENTATIONS:
            for metric in METRICS:
                vector = vectors[vector_field(representation.name, metric)]
                assert len(vector) == representation.dims
                assert np.isfinite(vector).all()
    letters = dead_letters(worker_rig, len(bad))
    assert {i: letters[i]["reason"] for i in bad} == bad
    for painting_id in bad:
        assert letters[painting_id]["message"]
        assert not es.exists(index=names.BASE_PIPELINE.index, id=painting_id)


def _vectorized(metrics_port: int) -> float:
    try:
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return 0.0
    match = re.search(r'^imgsim_vectorizer_images_total\{outcome="vectorized"\} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


def _indexed(es: Elasticsearch, tag: str) -> int:
    es.indices.refresh(index=names.BASE_PIPELINE.index)
    query = {"term": {"metadata.source": tag}}
    return int(es.count(index=names.BASE_PIPELINE.index, query=query)["count"])


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_nothing(
    worker_rig: WorkerRig, es: Elasticsearch, tmp_path: Path
) -> None:
    tag = worker_rig.tag
    folder = worker_rig.image_root / tag
    folder.mkdir()
    titles = {}
    for i in range(400):
        _noise(256, 256).save(folder / f"{i:04d}.jpg", quality=80)
        titles[f"{tag}/{i:04d}.jpg"] = f"noise {i}"
    csv_path = tmp_path / "all_data_info.csv"
    write_metadata(csv_path, titles, tag)
    port = free_port()
    first = worker_rig.start(tmp_path / "worker-1.log", metrics_port=port)
    assert worker_rig.publish(worker_rig.image_root, "--metadata", str(csv_path)).returncode == 0

    eventually(lambda: _vectorized(port) >= 32 or None, timeout_s=240, what="a first part done")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    killed_at = _indexed(es, tag)
    assert killed_at < len(titles), "the worker must be killed in the middle of the run"

    worker_rig.start(tmp_path / "worker-2.log")
    eventually(lambda: _indexed(es, tag) == len(titles) or None, timeout_s=300, what="all indexed")
    time.sleep(2)
    assert _indexed(es, tag) == len(titles)
