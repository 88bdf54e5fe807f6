"""A painting's file under the image root: the one check that nothing outside it is ever read.

The vectorizer reads images through it and the search API serves files through it, so a record's
path (`../../etc/passwd`, an absolute path, a symlink out of the root) leads nowhere in either.
"""

from pathlib import Path

from imgsim_common.rejections import ImageRejected, RejectReason


def resolve_image_path(root: Path, relative: str) -> Path:
    base = root.resolve()
    try:
        path = (base / relative).resolve()
    except ValueError as e:  # an embedded NUL byte
        raise ImageRejected(RejectReason.OUTSIDE_ROOT, f"{relative!r} is not a path: {e}") from e
    except (OSError, RuntimeError) as e:  # a symlink loop
        raise ImageRejected(RejectReason.UNREADABLE, f"cannot resolve {relative!r}: {e}") from e
    if not path.is_relative_to(base):
        raise ImageRejected(RejectReason.OUTSIDE_ROOT, f"{relative!r} leads outside the image root")
    return path
