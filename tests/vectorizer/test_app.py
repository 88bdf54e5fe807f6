"""The faust app as the worker creates it, without Kafka."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from imgsim_common.model_card import backbone_card
from imgsim_vectorizer.app import create_app
from imgsim_vectorizer.settings import VectorizerSettings
from imgsim_vectorizer.vectorizing import Vectorizer
from imgsim_vision.inference import Pixels, Vectors


class _NoModel:
    name = "none"

    def __call__(self, pixels: Pixels) -> Vectors:
        raise AssertionError("no image is vectorized here")


@pytest.mark.parametrize("group", ["test-group", "test-{group}"])
def test_the_worker_keeps_its_data_out_of_the_current_directory(
    group: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 9, defect 5: every worker left a `<consumer group>-data/` folder wherever it ran.
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    monkeypatch.chdir(checkout)
    monkeypatch.setenv("VECTORIZER_DATA_DIR", str(tmp_path / "data"))
    settings = VectorizerSettings(consumer_group=group, metrics_port=0)
    with ThreadPoolExecutor(1) as pool:
        vectorizer = Vectorizer(
            _NoModel(), backbone_card("none", 16, "random", "0"), 16, tmp_path, 1, 1, pool
        )
        app = create_app(settings, vectorizer)

        asyncio.run(app.on_first_start())  # where faust makes its directories

    assert list(checkout.iterdir()) == []
    assert (tmp_path / "data" / group / "v1").is_dir()
