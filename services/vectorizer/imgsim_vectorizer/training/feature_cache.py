"""The backbone's features of every view, kept on disk so that no view is computed twice.

One folder per backbone, weights version and view recipe; in it `.npz` chunks, each holding the
features of some (image sha1, view) pairs and the sha1s of the files hashed meanwhile (keyed by
path, size and modification time, so a second run need not read every file again). A chunk is
written whole or not at all (a temporary file renamed into place), and only ever added: an
interrupted run keeps every chunk it finished, and the next run starts from there.
"""

import io
import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt

from imgsim_vectorizer.training.file_hashes import FileHashes

Vector = npt.NDArray[np.float32]
# A chunk's own arrays; every other array in it is a representation's features.
_SHA1, _VIEW, _FILE, _FILE_SHA1 = "_sha1", "_view", "_file", "_file_sha1"


def file_key(path: Path) -> str:
    info = path.stat()
    return f"{path.resolve()}|{info.st_size}|{info.st_mtime_ns}"


class FeatureCache(FileHashes):
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._rows: dict[tuple[str, int], tuple[int, int]] = {}
        self._chunks: list[Mapping[str, Vector]] = []
        self._files: dict[str, str] = {}
        self._pending: list[tuple[str, int, dict[str, Vector]]] = []
        self._pending_files: dict[str, str] = {}
        self.chunks_read = 0

    @classmethod
    def open(cls, folder: Path, *, fresh: bool = False) -> "FeatureCache":
        if fresh and folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        cache = cls(folder)
        for path in sorted(folder.glob("chunk-*.npz")):
            cache._read(path)
        return cache

    def _read(self, path: Path) -> None:
        with np.load(path, allow_pickle=False) as chunk:
            arrays = {name: chunk[name] for name in chunk.files}
        number = len(self._chunks)
        self._chunks.append({k: v for k, v in arrays.items() if not k.startswith("_")})
        for row, (sha1, view) in enumerate(zip(arrays[_SHA1], arrays[_VIEW], strict=True)):
            self._rows[(str(sha1), int(view))] = (number, row)
        self._files.update(zip(map(str, arrays[_FILE]), map(str, arrays[_FILE_SHA1]), strict=True))
        self.chunks_read += 1

    def __len__(self) -> int:
        return len(self._rows) + len(self._pending)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def has(self, sha1: str, view: int) -> bool:
        return (sha1, view) in self._rows

    def get(self, sha1: str, view: int) -> dict[str, Vector]:
        number, row = self._rows[(sha1, view)]
        return {name: values[row] for name, values in self._chunks[number].items()}

    def add(self, sha1: str, view: int, vectors: dict[str, Vector]) -> None:
        self._pending.append((sha1, view, vectors))

    def flush(self) -> None:
        """Writes what was added since the last flush as one chunk, atomically."""
        if not self._pending and not self._pending_files:
            return
        names = sorted(self._pending[0][2]) if self._pending else []
        arrays: dict[str, npt.NDArray[np.generic]] = {
            _SHA1: np.array([sha1 for sha1, _, _ in self._pending], dtype="U40"),
            _VIEW: np.array([view for _, view, _ in self._pending], dtype=np.int64),
            _FILE: np.array(list(self._pending_files), dtype=str),
            _FILE_SHA1: np.array(list(self._pending_files.values()), dtype="U40"),
        }
        for name in names:
            arrays[name] = np.stack([vectors[name] for _, _, vectors in self._pending])
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub wants one dtype
        name = f"chunk-{uuid.uuid4().hex}"
        partial = self.folder / f"{name}.partial"
        partial.write_bytes(buffer.getvalue())
        final = self.folder / f"{name}.npz"
        os.replace(partial, final)
        self._pending, self._pending_files = [], {}
        self._read(final)
        self.chunks_read -= 1  # its own chunk, not one found on disk
