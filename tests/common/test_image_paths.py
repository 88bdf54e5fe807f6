"""The image root's one check, and the rejection every bad image ends in."""

import pickle
from pathlib import Path

import pytest
from imgsim_common.image_paths import resolve_image_path
from imgsim_common.rejections import ImageRejected, RejectReason


def test_the_rejection_carries_reason_and_message_and_survives_pickling() -> None:
    error = ImageRejected(RejectReason.EMPTY, "a.jpg is empty")

    copy = pickle.loads(pickle.dumps(error))

    assert (copy.reason, copy.message, str(copy)) == (
        RejectReason.EMPTY,
        "a.jpg is empty",
        "a.jpg is empty",
    )
    assert {reason.value for reason in RejectReason} == {
        "missing",
        "outside_root",
        "unreadable",
        "empty",
        "too_large",
        "too_many_pixels",
        "not_an_image",
        "corrupt",
    }


def test_a_path_inside_the_root_is_resolved(tmp_path: Path) -> None:
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.jpg").touch()
    (root / "alias.jpg").symlink_to(root / "sub" / "a.jpg")

    assert resolve_image_path(root, "sub/a.jpg") == root.resolve() / "sub" / "a.jpg"
    assert resolve_image_path(root, "sub/../sub/a.jpg") == root.resolve() / "sub" / "a.jpg"
    assert resolve_image_path(root, "alias.jpg") == root.resolve() / "sub" / "a.jpg"
    assert resolve_image_path(root, "not/yet/there.jpg") == root.resolve() / "not/yet/there.jpg"


@pytest.mark.parametrize(
    "relative", ["../x", "sub/../../x", "/etc/passwd", "link/secret.jpg", "out.jpg", "a\0.jpg"]
)
def test_a_path_leading_outside_the_root_is_rejected(tmp_path: Path, relative: str) -> None:
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "secret.jpg").touch()
    (root / "link").symlink_to(tmp_path / "secret")
    (root / "out.jpg").symlink_to(tmp_path / "secret" / "secret.jpg")

    with pytest.raises(ImageRejected) as caught:
        resolve_image_path(root, relative)

    assert caught.value.reason == RejectReason.OUTSIDE_ROOT


def test_a_symlink_loop_is_unreadable_not_an_error(tmp_path: Path) -> None:
    root = tmp_path / "images"
    root.mkdir()
    (root / "loop").symlink_to(root / "loop")

    with pytest.raises(ImageRejected) as caught:
        resolve_image_path(root, "loop/a.jpg")

    assert caught.value.reason == RejectReason.UNREADABLE
