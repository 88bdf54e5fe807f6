import pytest
from imgsim_common.representations import REPRESENTATIONS, Metric, by_name, vector_field


def test_names_are_unique_and_dims_within_limits() -> None:
    names = [r.name for r in REPRESENTATIONS]
    assert len(names) == len(set(names)) >= 3
    assert all(0 < r.dims <= 4096 for r in REPRESENTATIONS)


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(KeyError, match="global, mid, style"):
        by_name("colour")


def test_vector_field_names_the_indexed_field() -> None:
    assert vector_field("mid", Metric.L2) == "vectors.mid.l2"
    assert Metric.L2.es_similarity == "l2_norm"
