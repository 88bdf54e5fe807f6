"""The colour layout: what it computes, and that a crop, a rescale or a re-encode of a painting
finds the painting again while other paintings do not."""

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np
import numpy.typing as npt
import pytest
from imgsim_vision import layout
from imgsim_vision.images import square
from imgsim_vision.layout import ColourLayout, cell_means, gaussian_derivatives
from imgsim_vision.model import weights_version
from PIL import Image, ImageDraw

SIZE = 224


def described(pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    inputs = keras.Input(pixels.shape[1:])
    model = keras.Model(inputs, ColourLayout()(inputs))
    return np.asarray(model.predict_on_batch(pixels.astype(np.float32)))


def blocks(vector: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], ...]:
    cells = sum(n * n for n in layout.GRIDS)
    means, spreads = vector[: cells * 3], vector[cells * 3 : cells * 6]
    return means, spreads, vector[cells * 6 : -1], vector[-1:]


def test_the_vector_has_the_dims_the_card_gives() -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)

    vectors = described(pixels)

    assert vectors.shape == (3, layout.dims()) == (3, layout.representation().dims)
    assert layout.dims() == (4 + 9 + 16) * (3 + 3 + 8) + 1


def test_the_colour_blocks_are_each_cells_mean_and_spread_centred_and_unit() -> None:
    pixels = np.zeros((1, SIZE, SIZE, 3), np.uint8)
    pixels[0, :, : SIZE // 2, 0] = 255  # left half red, right half blue
    pixels[0, :, SIZE // 2 :, 2] = 255

    means, spreads, edges, constant = blocks(described(pixels)[0])

    # At the layer's resolution the left half is red; each cell's share of it is its red.
    red = (np.arange(layout.RESOLUTION) < layout.RESOLUTION // 2).astype(np.float64)
    expected_means, expected_spreads = [], []
    for cells in layout.GRIDS:
        shares = cell_means(layout.RESOLUTION, cells) @ red
        for _row in range(cells):
            for share in shares:
                expected_means.extend([share, 0.0, 1.0 - share])
                # A cell astride the edge is a mix of red and blue: a spread in both.
                spread = np.sqrt(max(share * (1 - share), 0.0))
                expected_spreads.extend([spread, 0.0, spread])
    for block, expected in ((means, expected_means), (spreads, expected_spreads)):
        centred = np.asarray(expected) - np.mean(expected)
        scale = np.sqrt(np.sum(centred**2) + layout.FLOOR**2)
        np.testing.assert_allclose(block, centred / scale, atol=5e-3)
    assert constant.tolist() == pytest.approx([layout.CONSTANT])
    # The one edge runs vertically: the cells astride it see it, in one orientation.
    assert np.count_nonzero(np.abs(edges) > 1e-3) > 0


def test_the_edge_block_tells_vertical_from_horizontal_stripes() -> None:
    stripes = np.zeros((2, SIZE, SIZE, 3), np.uint8)
    for i in range(0, SIZE, 16):
        stripes[0, :, i : i + 8] = 255  # vertical stripes
        stripes[1, i : i + 8, :] = 255  # horizontal stripes

    vertical, horizontal = (blocks(v)[2] for v in described(stripes))

    # Per cell: the share of the edge strength in each of the 8 orientations (centred overall).
    first_cell_v = vertical[: layout.ORIENTATIONS]
    first_cell_h = horizontal[: layout.ORIENTATIONS]
    assert int(np.argmax(first_cell_v)) != int(np.argmax(first_cell_h))
    assert float(np.dot(vertical, horizontal)) < 0


def test_a_blank_image_still_has_a_direction() -> None:
    vectors = described(np.full((2, SIZE, SIZE, 3), 128, np.uint8))

    assert np.isfinite(vectors).all()
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([layout.CONSTANT] * 2, abs=1e-3)


def test_exposure_moves_the_vector_little_and_another_painting_a_lot() -> None:
    paintings = _paintings(2, seed=3)
    darker = (paintings[0].astype(np.float32) * 0.8).astype(np.uint8)

    original, other, dimmed = described(_squashed([paintings[0], paintings[1], darker]))

    assert _cosine(original, dimmed) > 0.95
    assert _cosine(original, other) < 0.8


def test_the_cells_of_a_side_that_does_not_divide_evenly_still_average() -> None:
    matrix = cell_means(299, 4)

    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, rtol=1e-6)
    assert (np.count_nonzero(matrix, axis=0) == 1).all()  # every pixel in exactly one cell


def test_the_gradient_kernels_measure_a_ramp() -> None:
    kernel = gaussian_derivatives(layout.SIGMA)[:, :, 0, :]
    ramp = np.tile(np.arange(kernel.shape[0], dtype=np.float32), (kernel.shape[0], 1))

    assert float((kernel[..., 0] * ramp).sum()) == pytest.approx(1.0, abs=1e-6)
    assert float((kernel[..., 1] * ramp).sum()) == pytest.approx(0.0, abs=1e-6)


def test_the_layer_saves_and_loads_without_custom_objects(tmp_path: Path) -> None:
    inputs = keras.Input((64, 48, 3))
    model = keras.Model(inputs, ColourLayout(grids=(2, 3), name="layout")(inputs))
    model.save(tmp_path / "layout.keras")
    pixels = np.random.default_rng(2).integers(0, 256, (2, 64, 48, 3)).astype(np.float32)

    loaded = keras.models.load_model(tmp_path / "layout.keras")

    assert np.array_equal(model.predict_on_batch(pixels), loaded.predict_on_batch(pixels))
    assert loaded.output.shape[-1] == layout.dims((2, 3))


@pytest.mark.parametrize("variant", ["crop", "rescale", "jpeg"])
def test_an_altered_copy_finds_its_original_first_among_many(variant: str) -> None:
    paintings = _paintings(40, seed=11)
    index = described(_squashed(paintings))
    altered = described(np.stack([_alter(p, variant) for p in paintings]))

    firsts = [int(np.argmax(_cosines(index, query))) for query in altered]

    assert firsts == list(range(len(paintings)))


def test_unrelated_paintings_are_not_found_as_copies() -> None:
    index = described(_squashed(_paintings(40, seed=11)))
    queries = described(_squashed(_paintings(10, seed=12)))

    best = [float(np.max(_cosines(index, q))) for q in queries]
    own = [float(np.max(_cosines(index, q))) for q in index]

    assert max(best) < min(own)


def _paintings(count: int, seed: int) -> list[npt.NDArray[np.uint8]]:
    """Random compositions of shapes in random colours, of random sizes (as files would hold
    them: `_squashed` makes them the model's input, as ingestion does)."""
    rng = np.random.default_rng(seed)
    made = []
    for _ in range(count):
        width, height = (int(v) for v in rng.integers(240, 480, 2))
        image = Image.new("RGB", (width, height), tuple(int(c) for c in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(image)
        for _shape in range(12):
            x0, x1 = sorted(int(v) for v in rng.integers(0, width, 2))
            y0, y1 = sorted(int(v) for v in rng.integers(0, height, 2))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), colour)
        made.append(np.asarray(image))
    return made


def _squashed(paintings: list[npt.NDArray[np.uint8]]) -> npt.NDArray[np.uint8]:
    return np.stack([square(p, SIZE) for p in paintings])


def _alter(painting: npt.NDArray[np.uint8], variant: str) -> npt.NDArray[np.uint8]:
    image = Image.fromarray(painting)
    width, height = image.size
    if variant == "crop":
        left, top = round(width * 0.1), round(height * 0.1)
        image = image.crop((left, top, left + round(width * 0.8), top + round(height * 0.8)))
    elif variant == "rescale":
        image = image.resize((width // 2, height // 2), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=40 if variant == "jpeg" else 95)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return square(np.asarray(decoded.convert("RGB")), SIZE)


def _cosines(
    index: npt.NDArray[np.float32], query: npt.NDArray[np.float32]
) -> npt.NDArray[np.float64]:
    norms = np.linalg.norm(index, axis=1) * np.linalg.norm(query)
    return np.asarray((index @ query) / norms, np.float64)


def _cosine(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_its_fixed_numbers_are_part_of_the_models_version() -> None:
    def version(**layout_options: Any) -> str:
        inputs = keras.Input((32, 32, 3))
        features = keras.layers.GlobalAveragePooling2D()(inputs)
        outputs = {"global": features}
        if layout_options:
            outputs["layout"] = ColourLayout(**layout_options)(inputs)
        return weights_version(keras.Model(inputs, outputs))

    versions = {version(), version(sigma=1.5), version(sigma=2.0), version(orientations=6)}

    assert len(versions) == 4
    assert version(sigma=1.5) == version(sigma=1.5)


def test_a_fresh_process_that_imports_the_model_module_loads_it(tmp_path: Path) -> None:
    inputs = keras.Input((32, 32, 3))
    keras.Model(inputs, ColourLayout(name="layout")(inputs)).save(tmp_path / "layout.keras")
    script = (
        "import sys, keras, imgsim_vision.model\n"
        "model = keras.models.load_model(sys.argv[1])\n"
        "print(model.output.shape[-1])\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "layout.keras")],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == str(layout.dims())
