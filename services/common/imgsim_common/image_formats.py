"""The image formats the product takes, one rule for every place that opens a painting's file.

The publisher picks files by suffix, ingestion's decoder and the search API's thumbnails open
them by content, and both lists say the same formats (a test holds each suffix to its format in
Pillow). Never every format Pillow knows: EPS, for one, hands the file to Ghostscript.
"""

from typing import Final

# Pillow's names for them, as `Image.open(..., formats=IMAGE_FORMATS)` takes them (a camera's
# MPO opens as JPEG).
IMAGE_FORMATS: Final = ("JPEG", "PNG", "GIF", "TIFF", "BMP", "WEBP")
IMAGE_SUFFIXES: Final = frozenset(
    {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp"}
)
