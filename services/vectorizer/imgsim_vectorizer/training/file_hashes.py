"""What both training caches remember of the image files: each file's sha1, by its key.

A second run finds an image's cached rows by the sha1 of its bytes without reading the file
again: the file's key (path, size, mtime) names the sha1 it had.
"""


class FileHashes:
    _files: dict[str, str]
    _pending_files: dict[str, str]

    def sha1_of(self, key: str) -> str | None:
        return self._files.get(key) or self._pending_files.get(key)

    def remember_file(self, key: str, sha1: str) -> None:
        if self.sha1_of(key) != sha1:
            self._pending_files[key] = sha1
