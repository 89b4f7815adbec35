"""Workforce segmentation: federated k-means on the IBM HR data split across 3 sites.

For k = 3 .. 8, from the same initial centroids (k records drawn with a fixed seed) as
scikit-learn `KMeans` (Lloyd, one init, tol 0) on the pooled plaintext: rounds, time per round
and in all, bytes each site uploads per round, inertia beside scikit-learn's and the adjusted
Rand index of the two segmentations; then encrypted assignment throughput (records per second,
the cloud's part and the records owner's decryption) for the 1,470 records.

    .venv/bin/python benchmarks/segment.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from hedge.data import Schema, load_hr
from hedge.segmentation import SegmentOwner, SegmentSite, nearest, segmentation_keys
from hedge.segmentation.assign import (
    EncryptedRecords,
    assignment_keys,
    encrypted_distances,
    nearest_segments,
)
from hedge.segmentation.run import federated_kmeans
from hedge.segmentation.segments import HR_PROFILE_FEATURES

console = Console(width=150)
RESULTS = Path(__file__).parent / "results" / "segment.json"


def federated(x: np.ndarray, k: int) -> dict[str, Any]:
    keys = segmentation_keys(restarts=1, max_rounds=100)
    owner = SegmentOwner(keys)
    bundle = keys.public()
    sites = [SegmentSite(f"site-{i}", x[p], bundle, owner.signing_key.verify_key)
             for i, p in enumerate(np.array_split(np.arange(len(x)), 3))]
    init = x[np.random.default_rng(k).choice(len(x), k, replace=False)]
    start = time.perf_counter()
    result = federated_kmeans(sites, owner, bundle, k, init=init)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    reference = KMeans(n_clusters=k, init=init, n_init=1, algorithm="lloyd", tol=0.0).fit(x)
    sk_seconds = time.perf_counter() - start
    sent = [b for r in result.history for b in r.upload_bytes.values()]
    return {"k": k, "rounds": result.rounds, "sklearn_rounds": int(reference.n_iter_),
            "converged": result.converged, "seconds": seconds,
            "seconds_per_round": seconds / result.rounds, "sklearn_seconds": sk_seconds,
            "bytes_per_site_round": int(np.mean(sent)), "inertia": result.inertia,
            "sklearn_inertia": float(reference.inertia_),
            "ari": float(adjusted_rand_score(reference.labels_, nearest(x, result.centroids)[0])),
            # same initial centroids: segment j is scikit-learn's cluster j
            "centroid_error": float(np.abs(result.centroids - reference.cluster_centers_).max()),
            "centroids": result.centroids}


def assignment(x: np.ndarray, centroids: np.ndarray) -> dict[str, Any]:
    k = len(centroids)
    keys = assignment_keys(x.shape[1], k)
    start = time.perf_counter()
    records = EncryptedRecords.encrypt(keys.public(), x, k)
    encrypted = time.perf_counter()
    distances = encrypted_distances(records, centroids)
    scored = time.perf_counter()
    labels, _ = nearest_segments(keys, distances, records, k)
    done = time.perf_counter()
    return {"k": k, "records": len(x), "preset": keys.params.name,
            "encrypt_per_s": len(x) / (encrypted - start),
            "cloud_per_s": len(x) / (scored - encrypted),
            "decrypt_per_s": len(x) / (done - scored), "total_per_s": len(x) / (done - start),
            "matches_plaintext": bool(np.array_equal(labels, nearest(x, centroids)[0]))}


def main() -> None:
    frame = load_hr()[HR_PROFILE_FEATURES]
    x = Schema.infer(frame).features_matrix(frame)
    rows = [federated(x, k) for k in range(3, 9)]
    t = Table(title="Federated k-means, IBM HR (1,470 records, 13 features) split across 3 "
                    "sites, against scikit-learn KMeans (Lloyd) from the same centroids")
    for col in ("k", "rounds (sklearn)", "s / round", "total s", "sklearn s",
                "bytes / site / round", "inertia", "sklearn inertia", "ARI",
                "max centroid error"):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(str(r["k"]), f"{r['rounds']} ({r['sklearn_rounds']})",
                  f"{r['seconds_per_round']:.3f}", f"{r['seconds']:.2f}",
                  f"{r['sklearn_seconds']:.3f}", f"{r['bytes_per_site_round']:,}",
                  f"{r['inertia']:.2f}", f"{r['sklearn_inertia']:.2f}", f"{r['ari']:.3f}",
                  f"{r['centroid_error']:.1e}")
    console.print(t)
    assigned = [assignment(x, r["centroids"]) for r in rows if r["k"] in (3, 5, 8)]
    a = Table(title="Encrypted assignment of the 1,470 records (records per second)")
    for col in ("k", "preset", "encrypt", "cloud (distances)", "owner (decrypt, argmin)",
                "end to end", "labels = plaintext argmin"):
        a.add_column(col, justify="right")
    for r in assigned:
        a.add_row(str(r["k"]), r["preset"], f"{r['encrypt_per_s']:,.0f}",
                  f"{r['cloud_per_s']:,.0f}", f"{r['decrypt_per_s']:,.0f}",
                  f"{r['total_per_s']:,.0f}", str(r["matches_plaintext"]))
    console.print(a)
    for r in rows:
        del r["centroids"]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"federated": rows, "assignment": assigned}, indent=2) + "\n")


if __name__ == "__main__":
    main()
