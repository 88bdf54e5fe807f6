"""`imgsim sample-set DIR`: a labelled set of generated paintings, shaped like Painter by Numbers.

Several styles (painting techniques), several artists per style with hands of their own, genres
(compositions) that do not depend on the style, and palettes drawn at random for every painting
whatever its style or artist. `all_data_info.csv` has Painter by Numbers' columns, including an
artist-disjoint held-out split: some artists of every style are only in the test split (`in_train`
False, `artist_group` test_only), and a share of the other artists' paintings is held out too.
Everything follows from the seed: the same arguments give the same files, byte for byte.

This module stays light (the command line imports it); the painting modules load Pillow.
"""

import argparse
import csv
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

CSV_NAME: Final = "all_data_info.csv"
SOURCE: Final = "imgsim-sample-set"  # the CSV's `source` column: who made the painting
DEFAULT_PER_ARTIST, DEFAULT_ARTISTS_PER_STYLE, DEFAULT_UNSEEN_PER_STYLE = 12, 5, 1
DEFAULT_SIDES: Final = (200, 640)
OK, FAILED, BAD_ARGUMENTS = 0, 1, 2
# Only files this command writes are ever removed when a set is made again in the same folder.
_OWN_FILE = re.compile(r"\d{5,}\.(jpg|png)")


class SampleSetError(ValueError):
    """The arguments or the folder do not allow a sample set: the message says why."""


@dataclass(frozen=True)
class SampleSet:
    """What `generate` painted."""

    folder: Path
    csv_path: Path
    paintings: int
    held_out: int  # paintings with in_train False
    styles: tuple[str, ...]
    genres: tuple[str, ...]
    artists: tuple[str, ...]
    unseen_artists: tuple[str, ...]  # artists whose every painting is held out


def generate(
    folder: Path,
    per_artist: int = DEFAULT_PER_ARTIST,
    seed: int = 0,
    *,
    styles: Sequence[str] | None = None,
    artists_per_style: int = DEFAULT_ARTISTS_PER_STYLE,
    unseen_per_style: int = DEFAULT_UNSEEN_PER_STYLE,
    sides: tuple[int, int] = DEFAULT_SIDES,
    force: bool = False,
    workers: int = 1,
    on_painted: Callable[[int, int], None] | None = None,
) -> SampleSet:
    """Paints `len(styles) * artists_per_style * per_artist` paintings into `folder` and writes
    their CSV there. Every style when `styles` is None; names are matched ignoring case.

    `folder` must be missing, empty or hold a set made here before (which is replaced); with
    `force` any folder will do, and files of the same names are overwritten. `workers` > 1 paints
    in that many processes (started by spawn: a script that calls this needs the usual
    `if __name__ == "__main__":`); the files are the same either way. `on_painted(done, total)`
    is called after each painting. Raises SampleSetError.
    """
    from imgsim_cli import sample_catalogue as catalogue
    from imgsim_cli.sample_artists import roster
    from imgsim_cli.sample_techniques import STYLES

    chosen = _styles(STYLES if styles is None else styles, STYLES)
    if per_artist < 1:
        raise SampleSetError(f"paintings per artist must be 1 or more, not {per_artist}")
    if seed < 0:
        raise SampleSetError(f"the seed must be 0 or more, not {seed}")
    if not 0 <= unseen_per_style < artists_per_style:
        raise SampleSetError(
            f"every style needs a seen artist: {artists_per_style} artists per style, "
            f"{unseen_per_style} of them unseen"
        )
    if not 32 <= sides[0] <= sides[1] <= 4096:
        raise SampleSetError(f"sides must satisfy 32 <= MIN <= MAX <= 4096, not {sides}")
    rng = np.random.default_rng([seed, catalogue.ROSTER_STREAM])
    try:
        artists = roster(chosen, artists_per_style, unseen_per_style, rng)
    except ValueError as e:
        raise SampleSetError(str(e)) from e
    paintings = catalogue.plan(artists, per_artist, sides, seed)
    _prepare(folder, force)
    sizes = catalogue.paint_all(folder, paintings, workers, on_painted or (lambda _, __: None))
    csv_path = folder / CSV_NAME
    catalogue.write_csv(csv_path, paintings, sizes)
    return SampleSet(
        folder=folder,
        csv_path=csv_path,
        paintings=len(paintings),
        held_out=sum(not p.in_train for p in paintings),
        styles=chosen,
        genres=tuple(sorted({p.genre for p in paintings})),
        artists=tuple(a.name for a in artists),
        unseen_artists=tuple(a.name for a in artists if not a.seen),
    )


def _styles(asked: Sequence[str], known: Sequence[str]) -> tuple[str, ...]:
    by_name = {s.casefold(): s for s in known}
    unknown = [s for s in asked if s.strip().casefold() not in by_name]
    if unknown or not asked:
        raise SampleSetError(
            f"unknown style(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"the styles are: {', '.join(known)}"
        )
    return tuple(dict.fromkeys(by_name[s.strip().casefold()] for s in asked))


def _prepare(folder: Path, force: bool) -> None:
    if folder.exists() and not folder.is_dir():
        raise SampleSetError(f"{folder} is a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    if force or not any(folder.iterdir()):
        return
    previous = _previous_paintings(folder / CSV_NAME)
    if previous is None:
        raise SampleSetError(
            f"{folder} is not empty and holds no sample set: choose an empty or new folder, or "
            "pass --force to write into it anyway (files of the same names are overwritten)"
        )
    # A smaller set made here must not leave the larger one's paintings behind, CSV-less.
    for name in previous:
        (folder / name).unlink(missing_ok=True)


def _previous_paintings(csv_path: Path) -> list[str] | None:
    """The paintings of a set made in this folder before, or None when it holds none."""
    try:
        with csv_path.open(newline="", encoding="utf-8") as lines:
            rows = list(csv.DictReader(lines))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if not rows or any(row.get("source") != SOURCE for row in rows):
        return None
    return [n for row in rows if _OWN_FILE.fullmatch(n := row.get("new_filename") or "")]


def add_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = commands.add_parser(
        "sample-set",
        help="paint a labelled set of paintings (styles, genres, artists) with its CSV",
        description="Paint procedurally generated paintings into DIR with a Painter by "
        f"Numbers-shaped {CSV_NAME}: styles are painting techniques, each with its artists; "
        "genres are compositions; palettes are drawn regardless of style. Some artists of "
        "every style, and a fifth of the others' paintings, are held out (in_train False). "
        "DIR must be new, empty or hold a set made before (which is replaced).",
    )
    parser.add_argument("dir", type=Path, metavar="DIR", help="where to paint")
    parser.add_argument("--per-artist", type=int, default=DEFAULT_PER_ARTIST, metavar="N")
    parser.add_argument("--seed", type=int, default=0, help="the same seed paints the same set")
    parser.add_argument(
        "--styles", metavar="NAMES", help="comma-separated styles (default: every style)"
    )
    parser.add_argument(
        "--artists-per-style", type=int, default=DEFAULT_ARTISTS_PER_STYLE, metavar="N"
    )
    parser.add_argument(
        "--unseen-per-style",
        type=int,
        default=DEFAULT_UNSEEN_PER_STYLE,
        metavar="N",
        help="artists of each style whose every painting is held out",
    )
    parser.add_argument(
        "--sides", type=int, nargs=2, default=DEFAULT_SIDES, metavar=("MIN", "MAX"),
        help="range of the paintings' sides in pixels",
    )  # fmt: skip
    parser.add_argument(
        "--workers",
        type=int,
        default=min(os.cpu_count() or 1, 8),
        help="processes that paint (default: one per core, up to 8)",
    )
    parser.add_argument("--force", action="store_true", help="write into a non-empty DIR")
    parser.set_defaults(command=command)


def command(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    started = time.monotonic()
    # Started by the first painting: a refused argument prints its error alone.
    progress = Progress(transient=True)
    task = progress.add_task("painting")

    def painted(done: int, total: int) -> None:
        progress.start()  # once: it does nothing when already started
        progress.update(task, completed=done, total=total)

    try:
        made = generate(
            args.dir,
            args.per_artist,
            args.seed,
            styles=None if args.styles is None else args.styles.split(","),
            artists_per_style=args.artists_per_style,
            unseen_per_style=args.unseen_per_style,
            sides=(args.sides[0], args.sides[1]),
            force=args.force,
            workers=args.workers,
            on_painted=painted,
        )
    except SampleSetError as e:
        print(f"imgsim sample-set: error: {e}", file=sys.stderr)
        return BAD_ARGUMENTS
    except OSError as e:  # a folder that cannot be written, a full disk
        print(f"imgsim sample-set: {e}", file=sys.stderr)
        return FAILED
    finally:
        if progress.live.is_started:  # stop() prints a line break even when never started
            progress.stop()
    print(
        f"{made.paintings} paintings by {len(made.artists)} artists "
        f"({len(made.unseen_artists)} unseen in training) in {len(made.styles)} styles and "
        f"{len(made.genres)} genres, {made.held_out} held out (in_train False), painted in "
        f"{time.monotonic() - started:.1f} s\nimages: {made.folder}\nmetadata: {made.csv_path}"
    )
    return OK
