"""One rule for the formats the product takes: the publisher's suffixes name exactly the formats
the decoder and the thumbnails open."""

from imgsim_common.image_formats import IMAGE_FORMATS, IMAGE_SUFFIXES
from PIL import Image


def test_every_suffix_names_one_of_the_formats_and_every_format_has_a_suffix() -> None:
    by_suffix = Image.registered_extensions()

    assert {by_suffix[suffix] for suffix in IMAGE_SUFFIXES} == set(IMAGE_FORMATS)
    assert all(suffix == suffix.lower() for suffix in IMAGE_SUFFIXES)


def test_formats_that_hand_files_to_other_programs_are_not_taken() -> None:
    assert not {"EPS", "PDF", "PSD", "ICO", "PCX"} & set(IMAGE_FORMATS)
