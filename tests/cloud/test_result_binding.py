"""What the cloud finds in a job's result: the SHA-256 of every SEAL ciphertext, also inside an
artifact's vectors, so that a co-decryption request can name only those."""

from __future__ import annotations

import numpy as np

from hedge.ckks import KeySet
from hedge.cloud.result_binding import release_kind, result_digests
from hedge.ml import LinearModel
from hedge.ml.model import EncryptedLinearModel
from hedge.wire.shares import ciphertext_digest


def test_a_models_ciphertexts_are_found_in_its_artifact() -> None:
    keys = KeySet.generate("fast", rotations=[])
    model = EncryptedLinearModel.encrypt(
        LinearModel(["a", "b"], 0.5, np.array([1.0, -2.0])), keys.public())
    found = result_digests(model.to_bytes())
    assert model.tiled is not None
    expected = {ciphertext_digest(c) for c in [*model.weights.ciphertexts,
                                               *model.tiled.ciphertexts]}
    assert found == expected
    assert result_digests(model.weights.to_bytes()) == {
        ciphertext_digest(c) for c in model.weights.ciphertexts}
    assert [release_kind(k) for k in ("train", "evaluate", "prepare", "nothing")] == [
        "model", "evaluation", "aggregate", None]
