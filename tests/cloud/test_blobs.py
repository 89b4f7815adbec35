"""The content-addressed blob store."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hedge.cloud import BlobStore, TooLargeError
from hedge.errors import CorruptDataError


async def chunks(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def test_streamed_blobs_are_readable_once_sealed_and_stored_once(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    data = bytes(range(256)) * 50  # not a multiple of any buffer size
    writer = asyncio.run(store.put_stream(chunks(data), limit=10**6))
    assert writer.path.read_bytes() == data  # sealed: complete on disk before the commit
    digest = writer.commit()
    assert digest == hashlib.sha256(data).hexdigest() and store.read(digest) == data
    assert store.put(data) == digest  # the same content again: one file
    assert len([p for p in tmp_path.rglob("*") if p.is_file()]) == 1
    assert b"".join(store.iter_chunks(digest, 777)) == data


def test_limits_bad_names_and_crash_leftovers(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    with pytest.raises(TooLargeError):
        asyncio.run(store.put_stream(chunks(b"x" * 5000), limit=4000))
    assert list(store.tmp.iterdir()) == []
    with pytest.raises(CorruptDataError):
        store.path("../../etc/passwd")
    with pytest.raises(CorruptDataError, match="missing"):
        store.read("0" * 64)
    (store.tmp / "upload-left-by-a-crash").write_bytes(b"partial")
    BlobStore(tmp_path)  # a worker opening the store leaves it alone
    assert (store.tmp / "upload-left-by-a-crash").exists()
    BlobStore(tmp_path, clean=True)  # the API service at its start removes it
    assert not (store.tmp / "upload-left-by-a-crash").exists()
