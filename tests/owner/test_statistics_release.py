"""Pooled per-class statistics: merged on ciphertexts, released with a minimum class size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hedge.ckks import KeySet
from hedge.ckks.hazmat import decrypt_exact
from hedge.data import Schema, load_idash
from hedge.errors import PolicyError
from hedge.ml import EncryptedDataset
from hedge.ml.dataset import class_statistics
from hedge.owner import AuditLog
from hedge.owner.statistics_release import release_statistics

pytestmark = pytest.mark.datasets  # needs ../shared/datasets (skipped without it)


def test_pooled_statistics_match_the_pooled_data(tmp_path: Path) -> None:
    keys = KeySet.generate("fast", rotations=[])
    frame = load_idash("pcs")
    schema = Schema.infer(frame, label="y")
    x, y = schema.features_matrix(frame), schema.label_vector(frame)
    bundle = keys.public()
    sites = [EncryptedDataset.encrypt(bundle, x[:200], y[:200], schema.columns),
             EncryptedDataset.encrypt(bundle, x[200:], y[200:], schema.columns)]
    pooled = EncryptedDataset.concat(sites)
    assert pooled.statistics is not None
    exact = decrypt_exact(keys, pooled.statistics)
    assert np.allclose(exact, class_statistics(x, y), atol=1e-4)
    audit = AuditLog(tmp_path / "audit.log")
    stats = release_statistics(keys, pooled.statistics, schema.columns, audit)
    for c in (0, 1):
        rows = x[y == c]
        assert stats.counts[c] == len(rows)
        assert np.allclose(stats.means[c], rows.mean(axis=0), atol=0.05)
        assert np.allclose(stats.stds[c], rows.std(axis=0), atol=0.05)
    entries = audit.entries()
    assert entries[-1].event == "release-statistics"
    text = (tmp_path / "audit.log").read_text()
    assert f"{stats.means[0][0]:.6f}" not in text  # no released value in the log
    with pytest.raises(PolicyError, match="fewer than 1000 rows"):
        release_statistics(keys, pooled.statistics, schema.columns, audit, min_rows=1000)
    assert audit.entries()[-1].event == "refused"
    assert audit.verify() == len(audit.entries())


def test_statistics_survive_the_dataset_file(tmp_path: Path) -> None:
    keys = KeySet.generate("fast", rotations=[])
    frame = load_idash("uis")
    schema = Schema.infer(frame, label="y")
    x, y = schema.features_matrix(frame), schema.label_vector(frame)
    data = EncryptedDataset.encrypt(keys.public(), x, y, schema.columns)
    data.save(tmp_path / "d.hed")
    loaded = EncryptedDataset.load(tmp_path / "d.hed", keys.public())
    assert loaded.statistics is not None
    assert np.allclose(decrypt_exact(keys, loaded.statistics), class_statistics(x, y), atol=1e-4)
