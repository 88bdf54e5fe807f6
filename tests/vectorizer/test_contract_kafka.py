"""The README's "Publishing from your own producer" recipes, run as written against the real
stack: records produced by kcat and by a plain Python producer become documents, and the shapes
the contract refuses become dead letters with their reasons."""

import hashlib
import json
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from elasticsearch import Elasticsearch
from imgsim_common import contract, names
from imgsim_stack.settings import REPO_ROOT, StackSettings
from PIL import Image

from tests.support import commit_at_end, eventually, read_topic
from tests.vectorizer.fixtures import WorkerRig

pytestmark = pytest.mark.integration

SECTION = "## Publishing from your own producer"
# What the README's recipes publish: painting id -> path under the image root.
RECIPE_PAINTINGS = {
    "kcat/plain.jpg": "kcat/plain.jpg",
    "kcat-keyed": "kcat/keyed.jpg",
    "kcat/object.jpg": "kcat/object.jpg",
    "python-1": "python/one.jpg",
}


def readme_blocks(language: str) -> list[str]:
    text = (REPO_ROOT / "README.md").read_text("utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end >= 0 else None]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


@pytest.fixture
def shared_topic_worker(stack: StackSettings, tmp_path: Path) -> Iterator[WorkerRig]:
    """A worker on the shared `image-paths` topic (the README's recipes name it), in a group of
    its own that starts at the topic's end, with a dead-letter topic of its own."""
    tag = uuid.uuid4().hex[:10]
    rig = WorkerRig(
        stack=stack,
        image_root=tmp_path / "images",
        tag=tag,
        input_topic=names.IMAGE_PATHS_TOPIC,
        dead_letter_topic=f"test-image-paths-dlq-{tag}",
    )
    rig.image_root.mkdir()
    admin = AdminClient({"bootstrap.servers": stack.bootstrap_servers})
    admin.create_topics([NewTopic(rig.dead_letter_topic, 1, 1)])[rig.dead_letter_topic].result()
    # It starts at the shared topic's end: only what the recipes publish from now on is its.
    commit_at_end(stack.bootstrap_servers, rig.input_topic, rig.env["VECTORIZER_CONSUMER_GROUP"])
    yield rig
    for worker in rig.workers:
        worker.kill()
        worker.wait()
    admin.delete_topics([rig.dead_letter_topic])[rig.dead_letter_topic].result()


def paint(path: Path, seed: int) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=90)
    return hashlib.sha1(path.read_bytes()).hexdigest()


def documents(es: Elasticsearch, ids: list[str]) -> dict[str, dict[str, Any]]:
    es.indices.refresh(index=names.BASE_PIPELINE.index)
    found = es.search(
        index=names.BASE_PIPELINE.index, query={"ids": {"values": ids}}, size=len(ids)
    )["hits"]["hits"]
    return {hit["_id"]: hit["_source"] for hit in found}


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed (apt install kcat)")
def test_readme_recipes_become_documents_and_refused_shapes_dead_letters(
    shared_topic_worker: WorkerRig, es: Elasticsearch, tmp_path: Path
) -> None:
    rig = shared_topic_worker
    # A new image each run: a document with this sha1 can only come from this run's records.
    sha1s = {
        painting_id: paint(rig.image_root / path, seed)
        for seed, (painting_id, path) in enumerate(
            RECIPE_PAINTINGS.items(), start=uuid.uuid4().int % 10**6
        )
    }
    rig.start(tmp_path / "worker.log")

    shell_blocks = readme_blocks("sh")
    python_blocks = [b for b in readme_blocks("python") if "Producer(" in b]
    assert len(shell_blocks) == 1 and len(python_blocks) == 1, "the README's recipes moved"
    subprocess.run(["bash", "-euo", "pipefail", "-c", shell_blocks[0]], check=True, timeout=60)
    subprocess.run([sys.executable, "-c", python_blocks[0]], check=True, timeout=60)

    # Shapes the contract refuses, produced by kcat too.
    bad = {
        "kcat-mismatch": '{"id": "someone-else", "path": "kcat/plain.jpg"}',
        "kcat-no-path": '{"id": "kcat-no-path"}',
        "kcat-broken": '{"path": ',
    }
    lines = "".join(f"{key}\t{value}\n" for key, value in bad.items())
    subprocess.run(
        ["kcat", "-P", "-b", rig.stack.bootstrap_servers, "-t", rig.input_topic, "-K\t"],
        input=lines.encode(),
        check=True,
        timeout=60,
    )

    ids = list(RECIPE_PAINTINGS)

    def indexed() -> dict[str, dict[str, Any]] | None:
        found = documents(es, ids)
        fresh = {i: d for i, d in found.items() if d.get("sha1") == sha1s[i]}
        return fresh if len(fresh) == len(ids) else None

    found = eventually(indexed, 180, "the recipes' paintings indexed with this run's images")
    assert {i: found[i]["path"] for i in ids} == RECIPE_PAINTINGS
    assert found["kcat/object.jpg"]["metadata"] == {"artist": "A. Painter", "year": 1890}
    assert found["python-1"]["metadata"] == {"title": "One"}

    letters = read_topic(
        rig.stack.bootstrap_servers, rig.dead_letter_topic, lambda got: len(got) >= len(bad)
    )
    reasons = {m.key().decode(): json.loads(m.value())["reason"] for m in letters}  # type: ignore[union-attr, arg-type]
    assert reasons == {
        "kcat-mismatch": "key_mismatch",
        "kcat-no-path": "malformed_record",
        "kcat-broken": "malformed_record",
    }
    for message in letters:
        assert (
            contract.header(message.headers(), contract.REASON_HEADER)
            == reasons[
                message.key().decode()  # type: ignore[union-attr]
            ]
        )
        # Each letter says which version of the dead-letter contract it follows.
        assert contract.header(message.headers(), contract.CONTRACT_HEADER) == str(
            contract.DEAD_LETTER_VERSION
        )
