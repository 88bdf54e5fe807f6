"""`imgsim evaluate` through a real search API on a real Elasticsearch index of its own, mapped
from a model card with trained and backbone representations. The vectors are made so that the
answer is known: trained ones cluster by style (tightly for artists seen in training, loosely
for unseen ones), backbone ones are noise."""

import csv
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from elasticsearch import Elasticsearch
from elasticsearch.helpers import bulk
from imgsim_cli.main import main
from imgsim_common import mapping
from imgsim_common.model_card import ModelCard, RepresentationCard
from imgsim_common.representations import METRICS, REPRESENTATIONS
from imgsim_stack.settings import StackSettings
from PIL import Image

from tests.search_api.fixtures import start_api

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STYLES = ("Cubism", "Baroque", "Realism", "Fauvism", "Pointillism")
ARTISTS_PER_STYLE, PER_ARTIST, SEEN_PER_STYLE = 4, 20, 2
TRAINED = {"common": 64, "style_embedding": 64, "genre_embedding": 64}


def card() -> ModelCard:
    return ModelCard(
        name="test-evaluate",
        version=f"test-{uuid.uuid4().hex[:8]}",
        backbone="MobileNetV3Large",
        input_size=224,
        weights="random",
        representations=[
            *(
                RepresentationCard(name=r.name, dims=r.dims, description=r.description)
                for r in REPRESENTATIONS
            ),
            *(
                RepresentationCard(name=n, dims=d, description=n, source="trained")
                for n, d in TRAINED.items()
            ),
        ],
    )


@dataclass
class Collection:
    root: Path
    metadata: Path
    index: str
    queries: int


def build_collection(es: Elasticsearch, root: Path) -> Collection:
    """Images and a CSV under `root`, and an index of their vectors named after the test."""
    model = card()
    index = f"test-evaluate-{uuid.uuid4().hex[:8]}"
    es.indices.create(index=index, **mapping.model_index(model, index_options="flat"))
    rng = np.random.default_rng(4)
    centres = {
        (name, style): rng.standard_normal(dims)
        for name, dims in TRAINED.items()
        for style in STYLES
    }
    documents: list[dict[str, Any]] = []
    metadata = root / "all_data_info.csv"
    queries = 0
    with metadata.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["new_filename", "artist", "style", "genre", "in_train"])
        for style in STYLES:
            for a in range(ARTISTS_PER_STYLE):
                seen = a < SEEN_PER_STYLE
                for n in range(PER_ARTIST):
                    painting_id = f"{style}/artist-{a}/{n:03d}.png"
                    (root / painting_id).parent.mkdir(parents=True, exist_ok=True)
                    Image.new("RGB", (8, 8), (a * 40, n * 10, 99)).save(root / painting_id)
                    in_train = seen and n < PER_ARTIST // 2
                    queries += not in_train
                    genre = ("portrait", "landscape")[n % 2]
                    writer.writerow([painting_id, f"{style} {a}", style, genre, in_train])
                    noise = 0.5 if seen else 1.5
                    vectors = {r.name: rng.standard_normal(r.dims) for r in REPRESENTATIONS} | {
                        name: centres[(name, style)] + noise * rng.standard_normal(dims)
                        for name, dims in TRAINED.items()
                    }
                    documents.append(
                        {
                            "id": painting_id,
                            "path": painting_id,
                            "metadata": {"artist": f"{style} {a}", "style": style, "genre": genre},
                            "vectors": {
                                name: {m.value: v.astype(np.float32).tolist() for m in METRICS}
                                for name, v in vectors.items()
                            },
                        }
                    )
    bulk(es, ({"_index": index, "_id": d["id"], "_source": d} for d in documents))
    es.indices.refresh(index=index)
    return Collection(root, metadata, index, queries)


@pytest.fixture(scope="module")
def collection(es: Elasticsearch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collection]:
    made = build_collection(es, tmp_path_factory.mktemp("evaluate-stack"))
    yield made
    es.indices.delete(index=made.index)


def test_evaluation_through_the_real_api_finds_what_the_vectors_hold(
    stack: StackSettings,
    collection: Collection,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api = start_api(stack.elasticsearch, collection.index, collection.root)
    report_file = tmp_path / "report.json"
    try:
        started = time.monotonic()
        code = main(
            [
                "evaluate",
                "--images",
                str(collection.root),
                "--metadata",
                str(collection.metadata),
                "--api",
                api.url,
                "--queries",
                "all",
                "--robustness",
                "3",
                "--no-progress",
                "--json",
                str(report_file),
            ]
        )
        seconds = time.monotonic() - started
    finally:
        api.stop()
    out = capsys.readouterr().out
    print(out, f"\nevaluated in {seconds:.1f} s")

    assert code == 0
    report = json.loads(report_file.read_text())
    assert report["set"]["queries"] == collection.queries
    rows = {(r["representation"], r["metric"]): r for r in report["results"]}
    assert len(rows) == (len(REPRESENTATIONS) + len(TRAINED)) * 2
    chance = (PER_ARTIST * ARTISTS_PER_STYLE - 1) / (
        len(STYLES) * ARTISTS_PER_STYLE * PER_ARTIST - 1
    )
    for (name, metric), row in rows.items():
        precision = row["retrieval"]["precision"]["style"]
        style_auc = row["pair_auc"]["style"]
        if name in TRAINED:
            assert row["kind"] == "trained"
            assert precision >= 0.9, (name, metric)
            # Seen artists' paintings sit closer to their style than unseen ones'.
            assert style_auc["seen"]["auc"] > style_auc["unseen"]["auc"] > 0.9
        else:
            assert row["kind"] == "backbone"
            assert precision == pytest.approx(chance, abs=0.1)
            assert style_auc["unseen"]["auc"] == pytest.approx(0.5, abs=0.1)
    baseline = report["random_baseline"]["retrieval"]["precision"]["style"]
    assert baseline == pytest.approx(chance, abs=0.03)
    # The API's upload model is not the index's (a card of the test's own): refused, and said.
    assert "409" in report["robustness_skipped"]
    assert report["retrieval_failures"] == {}
