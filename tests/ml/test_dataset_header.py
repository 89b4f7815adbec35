"""A dataset upload's header, crafted by a site (valid checksums, hostile fields): every field
has its exact JSON type and range, the declared rows fit the ciphertext blocks the file holds,
and anything else is `CorruptDataError` naming the field, refused before a worker sees it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from hedge.ckks import KeySet, PublicBundle, container
from hedge.errors import CorruptDataError, KeyMismatchError, SchemaError
from hedge.ml import ClassificationData, EncryptedDataset, RegressionData
from hedge.ml.artifact import ArtifactKind

Fields = dict[str, Any]


@pytest.fixture(scope="module")
def small(other_keys: KeySet) -> tuple[PublicBundle, bytes, bytes]:
    """(bundle, one site of 5 rows, two sites of 5 and 3 rows) on the fast preset."""
    bundle = other_keys.public()
    rng = np.random.default_rng(5)
    one = EncryptedDataset.encrypt(bundle, rng.uniform(-1, 1, (5, 2)),
                                   np.array([0, 1, 0, 1, 1.0]), ["a", "b"])
    two = EncryptedDataset.concat([one, EncryptedDataset.encrypt(
        bundle, rng.uniform(-1, 1, (3, 2)), np.array([1, 0, 1.0]), ["a", "b"])])
    return bundle, one.to_bytes(), two.to_bytes()


def _with(raw: bytes, **changes: Any) -> bytes:
    header, records = container.from_bytes(raw, ArtifactKind.DATASET)
    fields = dict(header.fields, **changes)
    for key in [k for k, v in changes.items() if v is _DROP]:
        del fields[key]
    return container.to_bytes(ArtifactKind.DATASET, fields, records)


class _Drop:
    """A field to leave out (its repr is stable, so every test worker names the case alike)."""

    def __repr__(self) -> str:
        return "DROP"


_DROP = _Drop()


@pytest.mark.parametrize(("changes", "field"), [
    ({"site_rows": [-500]}, "site_rows"),
    ({"site_rows": [10**12]}, "site_rows"),
    ({"site_rows": [0]}, "site_rows"),
    ({"site_rows": [True]}, "site_rows"),
    ({"site_rows": [5.0]}, "site_rows"),
    ({"site_rows": "5"}, "site_rows"),
    ({"site_rows": []}, "site_rows"),
    ({"site_rows": [513]}, "site_rows"),  # 513 rows take 2 blocks of 512; the file holds 1
    ({"columns": "x"}, "columns"),
    ({"columns": ["(bias)", "a", "a"]}, "columns"),
    ({"columns": ["(bias)", "a", ""]}, "columns"),
    ({"columns": ["a", "(bias)", "b"]}, "columns"),
    ({"columns": ["(bias)", "a", 3]}, "columns"),
    ({"columns": ["(bias)", "a", "\ud800"]}, "columns"),  # a lone surrogate: not text
    ({"columns": []}, "columns"),
    ({"columns": ["(bias)", *(f"c{i}" for i in range(3000))]}, "columns"),
    ({"penalties": 0.0}, "penalties"),
    ({"penalties": 1}, "penalties"),  # classification: penalty vectors the file does not hold
    ({"solutions": False}, "solutions"),
    ({"blocks": True}, "blocks"),
    ({"blocks": 1.0}, "blocks"),
    ({"statistics": 1}, "statistics"),
    ({"task": 0}, "task"),
    ({"class_weight": "inverse"}, "class_weight"),
    ({"schema": []}, "schema"),
    ({"blocks": _DROP}, "blocks"),
], ids=lambda v: repr(v)[:40])
def test_a_crafted_dataset_header_is_refused_naming_the_field(
        small: tuple[PublicBundle, bytes, bytes], changes: Fields, field: str) -> None:
    bundle, one, _ = small
    with pytest.raises(CorruptDataError, match=f"'{field}'"):
        EncryptedDataset.from_bytes(_with(one, **changes), bundle)


@pytest.mark.parametrize("rows", [[5, 0], [4, 4, 1], [600, 3], [5]])
def test_the_declared_rows_of_every_site_must_fit_the_blocks(
        small: tuple[PublicBundle, bytes, bytes], rows: list[int]) -> None:
    """Two sites of 5 and 3 rows: one block each. Zero rows, a third site, a site that would
    need two blocks, or one site for both blocks do not fit."""
    bundle, _, two = small
    with pytest.raises(CorruptDataError, match="'site_rows'"):
        EncryptedDataset.from_bytes(_with(two, site_rows=rows), bundle)


def test_row_counts_that_fit_the_blocks_are_accepted(
        small: tuple[PublicBundle, bytes, bytes]) -> None:
    bundle, one, two = small
    assert EncryptedDataset.from_bytes(one, bundle).site_rows == [5]
    assert EncryptedDataset.from_bytes(two, bundle).site_rows == [5, 3]
    assert EncryptedDataset.from_bytes(_with(two, site_rows=[512, 1]), bundle).rows == 513


def test_another_key_set_is_a_key_mismatch(small: tuple[PublicBundle, bytes, bytes]) -> None:
    bundle, one, _ = small
    with pytest.raises(KeyMismatchError):
        EncryptedDataset.from_bytes(_with(one, param_id="0" * 32), bundle)


def test_more_vectors_than_declared_are_refused(small: tuple[PublicBundle, bytes, bytes]) -> None:
    bundle, one, _ = small
    header, records = container.from_bytes(one, ArtifactKind.DATASET)
    extra = container.to_bytes(ArtifactKind.DATASET, header.fields, records * 2)
    with pytest.raises(CorruptDataError, match="more than the 4 vectors"):
        EncryptedDataset.from_bytes(extra, bundle)


def test_a_dataset_of_the_format_before_one_record_per_vector_is_refused_saying_so(
        small: tuple[PublicBundle, bytes, bytes]) -> None:
    """Format 1 nested every vector in one record and wrote no 'format' field: such a file is
    refused with the version and what to do, before anything else of it is read."""
    bundle, one, _ = small
    header, records = container.from_bytes(one, ArtifactKind.DATASET)
    fields = {k: v for k, v in header.fields.items() if k != "format"}
    old = container.to_bytes(ArtifactKind.DATASET, fields,
                             [(1, b"".join(payload for _, payload in records))])
    with pytest.raises(CorruptDataError, match="dataset format 1; this hedge reads format 2 "
                                               "only: encrypt the site's rows again"):
        EncryptedDataset.from_bytes(old, bundle)


def test_a_dataset_is_typed_by_its_task(small: tuple[PublicBundle, bytes, bytes]) -> None:
    bundle, one, two = small
    assert isinstance(EncryptedDataset.from_bytes(two, bundle), ClassificationData)
    regression = EncryptedDataset.encrypt_regression(
        bundle, np.array([[0.5, -0.5], [0.25, 0.0]]), np.array([0.1, -0.2]), ["a", "b"])
    parsed = EncryptedDataset.from_bytes(regression.to_bytes(), bundle)
    assert isinstance(parsed, RegressionData) and len(parsed.solutions) == 1
    with pytest.raises(CorruptDataError, match="'class_weight'"):
        EncryptedDataset.from_bytes(_with(regression.to_bytes(), class_weight="balanced"),
                                    bundle)
    with pytest.raises(SchemaError, match="same schema"):
        EncryptedDataset.concat([EncryptedDataset.from_bytes(one, bundle), parsed])
