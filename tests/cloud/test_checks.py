"""The cloud's checks of stored uploads: kind, key set and every record, or the header alone
for a blob read whole when it was stored; keystores are refused before a byte is stored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from hedge.ckks import KeySet
from hedge.cloud.checks import check_container, no_keystore, parsed_dataset
from hedge.errors import CorruptDataError, KeyMismatchError, SchemaError, SecretMaterialError
from hedge.ml import EncryptedDataset, EncryptedLinearModel, RowLayout
from hedge.ml.artifact import ArtifactKind

MODEL = ArtifactKind.MODEL


@pytest.fixture
def model_file(tmp_path: Path, owner_keys: KeySet) -> Path:
    model = EncryptedLinearModel(owner_keys.public().encrypt(np.ones(3)), RowLayout(3, 4096),
                                 ["a", "b", "c"], "logistic")
    path = tmp_path / "model"
    path.write_bytes(model.to_bytes())
    return path


def test_a_sound_model_gives_its_header(model_file: Path, owner_keys: KeySet) -> None:
    for records in (True, False):
        header = check_container(model_file, owner_keys.fingerprint, MODEL, "a model",
                                 records=records)
        assert header.kind == MODEL and header.fields["fingerprint"] == owner_keys.fingerprint


def test_a_cut_model_is_corrupt_but_its_header_alone_reads(model_file: Path,
                                                           owner_keys: KeySet) -> None:
    model_file.write_bytes(model_file.read_bytes()[:-100])
    with pytest.raises(CorruptDataError):
        check_container(model_file, owner_keys.fingerprint, MODEL, "a model")
    check_container(model_file, owner_keys.fingerprint, MODEL, "a model", records=False)


def test_bytes_after_the_end_record_are_refused(model_file: Path, owner_keys: KeySet) -> None:
    model_file.write_bytes(model_file.read_bytes() + b"x")
    with pytest.raises(CorruptDataError, match="unexpected bytes after the end record of a model"):
        check_container(model_file, owner_keys.fingerprint, MODEL, "a model")


@pytest.mark.parametrize("records", [True, False])
def test_another_kind_or_key_set_is_refused(model_file: Path, owner_keys: KeySet,
                                            stranger_keys: KeySet, records: bool) -> None:
    with pytest.raises(SchemaError, match=r"expected a dataset \(container kind"):
        check_container(model_file, owner_keys.fingerprint, ArtifactKind.DATASET,
                        "a dataset", records=records)
    with pytest.raises(KeyMismatchError, match="another key set"):
        check_container(model_file, stranger_keys.fingerprint, MODEL, "a model",
                        records=records)


def test_a_keystore_is_refused_as_secret_material(tmp_path: Path, owner_keys: KeySet) -> None:
    owner_keys.save(tmp_path / "keys", passphrase="a long test passphrase")
    with pytest.raises(SecretMaterialError, match="never takes one"):
        check_container(tmp_path / "keys", owner_keys.fingerprint, MODEL, "a model",
                        records=False)

    async def chunks() -> AsyncIterator[bytes]:
        data = (tmp_path / "keys").read_bytes()
        for i in range(0, len(data), 7):  # the prefix spread over several chunks
            yield data[i:i + 7]

    async def stored() -> list[bytes]:
        return [chunk async for chunk in no_keystore(chunks())]

    with pytest.raises(SecretMaterialError):
        asyncio.run(stored())


def test_a_dataset_is_parsed_whole_under_the_encryption_bundle(tmp_path: Path,
                                                               owner_keys: KeySet) -> None:
    dataset = EncryptedDataset.encrypt(owner_keys.public(), np.zeros((5, 2)), np.ones(5),
                                       ["a", "b"])
    (tmp_path / "data").write_bytes(dataset.to_bytes())
    edge = owner_keys.public().for_encryption()
    parsed = parsed_dataset(tmp_path / "data", edge)
    assert parsed.rows == 5 and parsed.columns == dataset.columns
    # a byte changed anywhere among the ciphertexts is found now, not by a worker later
    raw = bytearray(dataset.to_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (tmp_path / "bad").write_bytes(bytes(raw))
    with pytest.raises(CorruptDataError):
        parsed_dataset(tmp_path / "bad", edge)
