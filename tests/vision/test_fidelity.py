"""The fidelity gate's figures: cosine per painting, top-10 neighbour overlap, pass or fail."""

import numpy as np
import numpy.typing as npt
from imgsim_vision import fidelity


def _vectors(count: int = 200, dims: int = 16, seed: int = 0) -> npt.NDArray[np.float32]:
    return np.random.default_rng(seed).standard_normal((count, dims)).astype(np.float32)


def test_the_same_vectors_pass_with_full_marks_at_any_scale() -> None:
    vectors = _vectors() * np.float32(1e-10)  # an untrained backbone's scale

    report = fidelity.measure({"global": vectors}, {"global": vectors})

    (figures,) = report.representations
    assert report.passed and report.paintings == 200
    assert figures.cosine_min > 0.9999 and figures.overlap_cosine == figures.overlap_l2 == 1.0


def test_small_noise_keeps_cosine_but_moves_neighbours() -> None:
    reference = _vectors()
    noisy = reference + np.float32(0.3) * _vectors(seed=1)

    (figures,) = fidelity.measure({"mid": noisy}, {"mid": reference}).representations

    assert 0.9 < figures.cosine_mean < 0.98
    assert figures.overlap_cosine < 0.9
    assert not figures.passed


def test_a_few_paintings_far_off_fail_on_the_low_quantile_while_the_mean_passes() -> None:
    reference = _vectors(dims=64)
    fast = reference.copy()
    fast[:20] = _vectors(count=20, dims=64, seed=2)  # a tenth of the paintings: unrelated

    (figures,) = fidelity.measure({"style": fast}, {"style": reference}).representations

    assert figures.cosine_low < fidelity.MIN_LOW_COSINE
    assert figures.cosine_min < 0.5
    assert not figures.passed
    assert "style: cosine min" in figures.describe()


def test_one_failing_representation_fails_the_model() -> None:
    good, bad = _vectors(), _vectors(seed=3)

    report = fidelity.measure({"global": good, "mid": bad}, {"global": good, "mid": good})

    assert not report.passed
    assert [r.name for r in report.failures] == ["mid"]
