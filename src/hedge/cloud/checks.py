"""What the cloud checks in an upload before it commits anything: no secret key material, the
container structure (every record's checksum, nothing after the end), the expected kind and the
consortium's key set; a dataset is parsed whole (every header field and every ciphertext), so
that nothing a job reads later can fail on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from hedge.ckks import PublicBundle, container
from hedge.errors import CorruptDataError, KeyMismatchError, SchemaError, SecretMaterialError
from hedge.ml.artifact import ArtifactKind
from hedge.ml.dataset import EncryptedDataset

__all__ = ["check_container", "dataset_features", "no_keystore", "parsed_dataset"]

_KEYSTORE = ("this is a keystore holding secret key material; the cloud never takes one. "
             "Upload encrypted data only")


async def no_keystore(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The stream unchanged, refused before its first byte is stored if it is a keystore."""
    head = b""
    checked = False
    async for chunk in chunks:
        if checked:
            yield chunk
            continue
        head += chunk
        if len(head) < container.PREFIX_SIZE:
            continue
        if container.peek_kind(head) == container.Kind.KEYSTORE:
            raise SecretMaterialError(_KEYSTORE)
        checked = True
        yield head
    if not checked and head:
        yield head


def check_container(path: Path, fingerprint: str, kind: int, what: str, *,
                    records: bool = True) -> container.Header:
    """The header of a stored upload of `kind` (`what`: how to call it in errors) under the
    consortium's key set `fingerprint`, after reading every record (with `records=False` the
    header only: for a blob that was read whole when it was stored)."""
    with path.open("rb") as fh:
        header = container.read_header(fh)
        if header.kind == container.Kind.KEYSTORE:
            raise SecretMaterialError(_KEYSTORE)
        if header.kind != kind:
            raise SchemaError(f"expected {what} (container kind {kind}), got kind {header.kind}")
        if records:
            for _ in container.read_records(fh):
                pass
            if fh.read(1):
                raise CorruptDataError(f"unexpected bytes after the end record of {what}")
    if header.fields.get("fingerprint") != fingerprint:
        raise KeyMismatchError(f"{what} is encrypted under another key set than this "
                               "consortium's bundle; encrypt with the consortium's bundle")
    return header


def parsed_dataset(path: Path, bundle: PublicBundle) -> EncryptedDataset:
    """A stored dataset upload parsed whole under the consortium's (encryption) `bundle`, as
    the workers will read it: `check_container`'s refusals first, then every header field and
    every ciphertext (`EncryptedDataset.from_bytes`: its declared rows against its blocks)."""
    check_container(path, bundle.fingerprint, ArtifactKind.DATASET, "an encrypted dataset",
                    records=False)
    return EncryptedDataset.from_bytes(path.read_bytes(), bundle)


def dataset_features(path: Path) -> int:
    """The features (model columns without the intercept) of a dataset upload that passed
    `dataset_rows`, from its header alone."""
    with path.open("rb") as fh:
        header = container.read_header(fh)
    columns = header.fields.get("columns")
    if not isinstance(columns, list) or not columns:
        raise CorruptDataError("the dataset header names no columns")
    return len(columns) - 1  # the first is the intercept
