"""Process pool over encrypted vectors: same results as in-process, bundle loaded per worker."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hedge.ckks import CkksPool, KeySet, PublicBundle
from hedge.ckks.hazmat import decrypt_exact
from tests.ckks import parallel_tasks
from tests.conftest import TOL


def test_pool_map_equals_in_process(keys: KeySet, bundle: PublicBundle) -> None:
    rng = np.random.default_rng(5)
    data = [rng.uniform(-1, 1, 300) for _ in range(5)]
    vectors = [bundle.encrypt(x) for x in data]
    with CkksPool(bundle, workers=2) as pool:
        results = pool.map(parallel_tasks.square_and_rotate, vectors)
        scaled = pool.map(parallel_tasks.scale, vectors, 0.25)
    for x, r, s in zip(data, results, scaled, strict=True):
        assert np.allclose(decrypt_exact(keys, r), np.roll(x * x, -1), atol=TOL)
        assert np.allclose(decrypt_exact(keys, s), 0.25 * x, atol=TOL)
        assert r.fingerprint == bundle.fingerprint


def test_pool_uses_several_processes_and_a_bundle_file(keys: KeySet, bundle: PublicBundle,
                                                       tmp_path: Path) -> None:
    path = tmp_path / "public.bundle"
    bundle.save(path)
    vectors = [bundle.encrypt([1.0]) for _ in range(8)]
    with CkksPool(path, workers=2) as pool:
        pool.warm_up()
        pids = {round(decrypt_exact(keys, v)[0])
                for v in pool.map(parallel_tasks.worker_pid, vectors)}
    assert len(pids) == 2


def test_forked_workers_inherit_the_bundle(keys: KeySet, bundle: PublicBundle) -> None:
    x = np.linspace(-1, 1, 100)
    vectors = [bundle.encrypt(x), bundle.encrypt(-x)]
    with CkksPool(bundle, workers=2, start_method="fork") as pool:
        out = pool.map(parallel_tasks.scale, vectors, 0.5)
        pairs = pool.map(parallel_tasks.add_pair, [(vectors[0], vectors[1])])
    assert np.allclose(decrypt_exact(keys, out[0]), 0.5 * x, atol=TOL)
    assert np.allclose(decrypt_exact(keys, out[1]), -0.5 * x, atol=TOL)
    assert np.allclose(decrypt_exact(keys, pairs[0]), 0.0, atol=TOL)
