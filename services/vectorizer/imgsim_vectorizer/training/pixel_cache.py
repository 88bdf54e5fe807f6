"""Decoded paintings kept on disk, so that a tower trained from the pixels decodes each file once.

One folder per input size and decoder; in it chunks of two files: `chunk-<id>.npy`, the decoded
(size, size, 3) uint8 images of some paintings, and `chunk-<id>.json`, their image sha1s and the
sha1s of the files hashed meanwhile (keyed like the feature cache: path, size, modification
time). The `.npy` is written first and the `.json` renamed into place last, so a chunk without
its `.json` is unfinished and ignored. The `.npy` files are memory-mapped, not read: a large set
costs disk, not memory, until its pixels are gathered for training.
"""

import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np
import numpy.typing as npt

from imgsim_vectorizer.training.file_hashes import FileHashes

Pixels = npt.NDArray[np.uint8]


class PixelCache(FileHashes):
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._rows: dict[str, tuple[int, int]] = {}  # image sha1 -> (chunk, row)
        self._chunks: list[Pixels] = []
        self._files: dict[str, str] = {}
        self._pending: dict[str, Pixels] = {}  # image sha1 -> pixels, in the order added
        self._pending_files: dict[str, str] = {}
        self.chunks_read = 0

    @classmethod
    def open(cls, folder: Path, *, fresh: bool = False) -> "PixelCache":
        if fresh and folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        cache = cls(folder)
        for index in sorted(folder.glob("chunk-*.json")):
            cache._read(index)
        return cache

    def _read(self, index: Path) -> None:
        described = json.loads(index.read_text())
        pixels: Pixels = np.load(index.with_suffix(".npy"), mmap_mode="r", allow_pickle=False)
        number = len(self._chunks)
        self._chunks.append(pixels)
        for row, sha1 in enumerate(described["sha1"]):
            self._rows[sha1] = (number, row)
        self._files.update(described["files"])
        self.chunks_read += 1

    def __len__(self) -> int:
        return len(self._rows) + len(self._pending)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def has(self, sha1: str) -> bool:
        return sha1 in self._rows or sha1 in self._pending

    def get(self, sha1: str) -> Pixels:
        if sha1 in self._pending:
            return self._pending[sha1]
        number, row = self._rows[sha1]
        pixels: Pixels = self._chunks[number][row]
        return pixels

    def add(self, sha1: str, pixels: Pixels) -> None:
        self._pending[sha1] = pixels

    def flush(self) -> None:
        """Writes what was added since the last flush as one chunk, atomically."""
        if not self._pending and not self._pending_files:
            return
        name = f"chunk-{uuid.uuid4().hex}"
        stacked = (
            np.stack(list(self._pending.values()))
            if self._pending
            else np.zeros((0, 1, 1, 3), np.uint8)
        )
        partial = self.folder / f"{name}.npy.partial"
        with partial.open("wb") as f:
            np.save(f, stacked, allow_pickle=False)
        os.replace(partial, self.folder / f"{name}.npy")
        described = {"sha1": list(self._pending), "files": self._pending_files}
        index = self.folder / f"{name}.json"
        index.with_suffix(".json.partial").write_text(json.dumps(described))
        os.replace(index.with_suffix(".json.partial"), index)
        self._pending, self._pending_files = {}, {}
        self._read(index)
        self.chunks_read -= 1  # its own chunk, not one found on disk
