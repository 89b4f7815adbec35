"""Content-addressed blob storage on disk: every blob is named by the SHA-256 of its bytes.

Folders are created 0700 and blobs 0600 (`mkstemp`): for the cloud's user alone.

Writes stream into a temporary file in the store (hashing and counting on the fly), are fsynced
and renamed into place: a reader sees a whole blob or none, a crash leaves at most a temporary
file (removed when the API service starts again). Storing the same content twice stores it once.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from hedge.errors import CorruptDataError, TooLargeError
from hedge.files import fsync_dir, private_dir

__all__ = ["BlobStore", "BlobWriter", "TooLargeError"]  # TooLargeError: from hedge.errors

_HASH = re.compile(r"[0-9a-f]{64}")
_UPLOAD = "upload-"  # temporary files of streamed uploads (removed at the API's start)


class BlobWriter:
    """One blob being written: `write` chunks, then `commit` (or `abort`). As a context
    manager, anything that fails before the commit aborts it (nothing is left behind)."""

    def __init__(self, store: BlobStore, limit: int, prefix: str = "put-") -> None:
        self._store, self._limit = store, limit
        fd, name = tempfile.mkstemp(dir=store.tmp, prefix=prefix)
        self._file = os.fdopen(fd, "wb")
        self.path = Path(name)  # the temporary file until `commit`
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self._limit:
            self.abort()
            raise TooLargeError(f"the upload exceeds the limit of {self._limit:,} bytes; split "
                                "the data into smaller batches")
        self._hash.update(chunk)
        self._file.write(chunk)

    def seal(self) -> None:
        """All bytes written and fsynced: `path` can be read back (before `commit`)."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def commit(self) -> str:
        """Make the blob durable under its hash; returns the hash."""
        self.seal()
        digest = self._hash.hexdigest()
        target = self._store.path(digest)
        if target.exists():
            self.path.unlink()
        else:
            private_dir(target.parent)
            os.replace(self.path, target)
            fsync_dir(target.parent)
        return digest

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None:
            self.abort()

    @property
    def digest(self) -> str:
        """The SHA-256 of what was written so far (the blob's name once committed)."""
        return self._hash.hexdigest()

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        self.path.unlink(missing_ok=True)


class BlobStore:
    """Blobs under `root`/ab/cdef... (the hash split after two characters)."""

    def __init__(self, root: str | os.PathLike[str], *, clean: bool = False) -> None:
        """With `clean`, remove temporary files left by a crash mid-upload (streamed uploads
        only: workers' own writes are left alone): the one process that receives uploads (the
        API service) does that at its start."""
        self.root = private_dir(root)
        self.tmp = private_dir(self.root / "tmp")
        if clean:
            for stale in self.tmp.glob(_UPLOAD + "*"):
                stale.unlink(missing_ok=True)

    def path(self, digest: str) -> Path:
        if not _HASH.fullmatch(digest):
            raise CorruptDataError(f"{digest!r} is not a SHA-256 blob name")
        return self.root / digest[:2] / digest[2:]

    def writer(self, limit: int, prefix: str = "put-") -> BlobWriter:
        return BlobWriter(self, limit, prefix)

    def put(self, data: bytes, limit: int | None = None) -> str:
        writer = self.writer(len(data) if limit is None else limit)
        writer.write(data)
        return writer.commit()

    async def put_stream(self, chunks: AsyncIterator[bytes], limit: int) -> BlobWriter:
        """Write a stream; returns the writer, sealed (readable at `path`) but not committed:
        check the content first, then `commit` or `abort`."""
        with self.writer(limit, _UPLOAD) as writer:
            async for chunk in chunks:
                writer.write(chunk)
            writer.seal()
        return writer

    def read(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise CorruptDataError(f"blob {digest} is missing from the store") from None

    def iter_chunks(self, digest: str, size: int = 1 << 20) -> Iterator[bytes]:
        with self.path(digest).open("rb") as fh:
            while chunk := fh.read(size):
                yield chunk
