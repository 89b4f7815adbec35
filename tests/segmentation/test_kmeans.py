"""Federated k-means: equals scikit-learn's Lloyd on the pooled data, survives dropouts, rejects
malformed contributions and tampered centroids."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from hedge.ckks import KeySet, PublicBundle, container
from hedge.ckks.hazmat import decrypt_exact
from hedge.data import Schema, load_hr
from hedge.errors import (
    CorruptDataError,
    KeyMismatchError,
    ParameterError,
    PolicyError,
    ShapeError,
    SignatureError,
)
from hedge.ml.artifact import ArtifactKind
from hedge.segmentation import (
    Pooled,
    SegmentOwner,
    SegmentSite,
    aggregate,
    nearest,
    segmentation_keys,
    value_scale,
)
from hedge.segmentation.run import federated_kmeans
from hedge.segmentation.segments import HR_PROFILE_FEATURES

pytestmark = pytest.mark.datasets  # needs ../shared/datasets (skipped without it)

#: Centroid error from the release's flooding noise on sums over >= 100 rows (scaled units).
CENTROID_TOL = 1e-4


@pytest.fixture(scope="module")
def keys() -> KeySet:
    return segmentation_keys(restarts=4, max_rounds=1000)  # budget for every test here


@pytest.fixture(scope="module")
def hr() -> np.ndarray:
    frame = load_hr()[HR_PROFILE_FEATURES]
    return Schema.infer(frame).features_matrix(frame)


def make_sites(x: np.ndarray, owner: SegmentOwner, bundle: PublicBundle) -> list[SegmentSite]:
    parts = np.array_split(np.arange(len(x)), 3)
    return [SegmentSite(f"site-{i}", x[p], bundle, owner.signing_key.verify_key)
            for i, p in enumerate(parts)]


@pytest.mark.parametrize("k", [3, 5, 8])
def test_equals_scikit_learn_lloyd_from_the_same_centroids(keys: KeySet, hr: np.ndarray,
                                                           k: int) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    owner = SegmentOwner(keys, audit=lambda e, d: events.append((e, d)))
    bundle = keys.public()
    init = hr[np.random.default_rng(k).choice(len(hr), k, replace=False)]
    result = federated_kmeans(make_sites(hr, owner, bundle), owner, bundle, k, init=init)
    reference = KMeans(n_clusters=k, init=init, n_init=1, algorithm="lloyd", tol=0.0).fit(hr)
    labels, _ = nearest(hr, result.centroids)
    assert result.converged
    assert adjusted_rand_score(reference.labels_, labels) == 1.0
    assert np.abs(result.centroids - reference.cluster_centers_).max() < CENTROID_TOL
    assert np.array_equal(np.sort(result.sizes), np.sort(np.bincount(reference.labels_,
                                                                     minlength=k)))
    assert result.inertia == pytest.approx(reference.inertia_, rel=0.01)
    assert len(events) == result.rounds and all(e == "release-kmeans" for e, _ in events)


def test_initialisation_from_released_statistics_with_restarts(keys: KeySet,
                                                                hr: np.ndarray) -> None:
    owner = SegmentOwner(keys)
    bundle = keys.public()
    sites = make_sites(hr, owner, bundle)
    single = [federated_kmeans(sites, owner, bundle, 4, seed=s, restarts=1) for s in (7, 8)]
    best = federated_kmeans(sites, owner, bundle, 4, seed=7, restarts=2)
    assert best.converged and best.seed in (7, 8)
    assert best.inertia == pytest.approx(min(r.inertia for r in single), rel=0.01)
    assert best.sizes.sum() == len(hr)


class DropsOut:
    """A site that is absent in the given rounds."""

    def __init__(self, site: SegmentSite, rounds: set[int]) -> None:
        self.site, self.rounds = site, rounds
        self.name, self.features, self.rows = site.name, site.features, site.rows

    def respond(self, signed: dict[str, Any]) -> bytes | None:
        if signed["payload"]["round"] in self.rounds:
            return None
        return self.site.respond(signed)


def test_a_site_dropping_out_does_not_stop_the_round(keys: KeySet, hr: np.ndarray) -> None:
    owner = SegmentOwner(keys)
    bundle = keys.public()
    sites: list[Any] = make_sites(hr, owner, bundle)
    sites[1] = DropsOut(sites[1], {2, 3})
    init = hr[:5]
    result = federated_kmeans(sites, owner, bundle, 5, init=init)
    assert result.history[1].sites == ["site-0", "site-2"]
    assert result.history[1].shift > 0  # that round moved towards the remaining sites' data
    assert result.converged and result.history[-1].sites == ["site-0", "site-1", "site-2"]
    assert result.sizes.sum() == len(hr)  # the final centroids describe everyone again
    reference = KMeans(n_clusters=5, init=init, n_init=1, tol=0.0).fit(hr)
    assert adjusted_rand_score(reference.labels_, nearest(hr, result.centroids)[0]) > 0.8


def test_malformed_contributions_are_rejected(keys: KeySet, hr: np.ndarray) -> None:
    owner = SegmentOwner(keys)
    bundle = keys.public()
    site, other = make_sites(hr, owner, bundle)[:2]
    scale = value_scale(bundle, len(hr))
    run = owner.new_run()
    signed = owner.request(run, 4, scale, hr[:3])
    good = site.respond(signed)
    foreign_keys = segmentation_keys()
    outsider = SegmentSite("x", hr[:50], foreign_keys.public(), owner.signing_key.verify_key)
    stale = other.respond(owner.request(run, 3, scale, hr[:3]))  # last round's answer
    uploads: dict[str, bytes | None] = {
        "good": good,
        "junk": b"not a ciphertext",
        "truncated": good[:-10],
        "old round": stale,
        "other k": SegmentSite("k4", hr[:60], bundle, owner.signing_key.verify_key).respond(
            owner.request(run, 4, scale, hr[:4])),
        "foreign key": outsider.respond(SegmentOwner(foreign_keys, owner.signing_key).request(
            run, 4, scale, hr[:3])),
        "absent": None,
    }
    pooled = aggregate(bundle, uploads, signed, hr.shape[1])
    assert pooled.vector is not None and pooled.sites == ["good"]
    assert pooled.rows == site.rows
    assert set(pooled.rejected) == {"junk", "truncated", "old round", "other k", "foreign key"}
    assert "does not answer" in pooled.rejected["old round"]
    totals = decrypt_exact(keys, pooled.vector)[:-1].reshape(3, -1) / scale
    assert round(totals[:, 0].sum()) == site.rows
    with pytest.raises(PolicyError, match="fewer than the 2"):  # one site: no release
        owner.update(pooled, hr[:3], 4, scale)


def test_replayed_or_foreign_requests_are_refused(keys: KeySet, hr: np.ndarray) -> None:
    owner = SegmentOwner(keys)
    site = make_sites(hr, owner, keys.public())[0]
    run = owner.new_run()
    first, second = owner.request(run, 1, 1.0, hr[:3]), owner.request(run, 2, 1.0, hr[:3])
    site.respond(second)
    for old in (first, second):  # an older round, or the same one again
        with pytest.raises(PolicyError, match="replay"):
            site.respond(old)
    other = SegmentOwner(segmentation_keys(), owner.signing_key)
    with pytest.raises(KeyMismatchError):
        site.respond(other.request(owner.new_run(), 1, 1.0, hr[:3]))


def test_pooled_rows_beyond_the_preset_capacity_are_refused(hr: np.ndarray) -> None:
    small = KeySet.generate("fast", rotations=[])  # capacity 128 values at level 0
    owner = SegmentOwner(small)
    bundle = small.public()
    sites = [SegmentSite(f"s{i}", hr[i * 100 : i * 100 + 100] * 0.5, bundle,
                         owner.signing_key.verify_key) for i in range(2)]
    signed = owner.request(owner.new_run(), 1, 1.0, hr[:2])
    pooled = aggregate(bundle, {s.name: s.respond(signed) for s in sites}, signed, hr.shape[1])
    assert pooled.sites == ["s0"] and "overflow" in pooled.rejected["s1"]


def test_a_dishonest_aggregate_is_not_used(keys: KeySet, hr: np.ndarray) -> None:
    owner = SegmentOwner(keys)
    bundle = keys.public()
    sites = make_sites(hr, owner, bundle)
    scale = value_scale(bundle, len(hr))
    signed = owner.request(owner.new_run(), 1, scale, hr[:3])
    honest = aggregate(bundle, {s.name: s.respond(signed) for s in sites}, signed, hr.shape[1])
    assert honest.vector is not None
    doubled = Pooled(honest.vector + honest.vector, honest.sites, honest.rows, {})
    with pytest.raises(CorruptDataError, match="not an honest aggregate"):
        owner.update(doubled, hr[:3], 1, scale)


def test_tampered_or_foreign_centroids_are_refused(keys: KeySet, hr: np.ndarray) -> None:
    owner = SegmentOwner(keys)
    site = make_sites(hr, owner, keys.public())[0]
    signed = owner.request(owner.new_run(), 1, 1.0, hr[:3])
    signed["payload"]["centroids"][0][0] += 0.5
    with pytest.raises(SignatureError):
        site.respond(signed)
    with pytest.raises(SignatureError):  # another owner's signing key
        site.respond(SegmentOwner(keys).request(owner.new_run(), 1, 1.0, hr[:3]))
    with pytest.raises(ShapeError):
        site.respond(owner.request(owner.new_run(), 1, 1.0, hr[:3, :4]))


def test_an_empty_segment_keeps_its_centroid(keys: KeySet, hr: np.ndarray) -> None:
    owner = SegmentOwner(keys)
    bundle = keys.public()
    init = np.vstack([hr[:2], np.full(hr.shape[1], 5.0)])  # nothing is near the third
    result = federated_kmeans(make_sites(hr, owner, bundle), owner, bundle, 3, init=init)
    assert result.sizes[2] == 0 and np.allclose(result.centroids[2], 5.0)
    assert result.sizes.sum() == len(hr)


def test_bad_arguments(keys: KeySet, hr: np.ndarray) -> None:
    owner = SegmentOwner(keys)
    bundle = keys.public()
    with pytest.raises(ParameterError):
        federated_kmeans(make_sites(hr, owner, bundle), owner, bundle, 0)
    with pytest.raises(ShapeError):
        SegmentSite("nan", np.full((3, 2), np.nan), bundle, owner.signing_key.verify_key)
    with pytest.raises(ShapeError, match="initial centroids"):
        federated_kmeans(make_sites(hr, owner, bundle), owner, bundle, 3, init=hr[:4])
    with pytest.raises(ShapeError, match="initial centroids"):
        federated_kmeans(make_sites(hr, owner, bundle), owner, bundle, 2,
                         init=np.full((2, hr.shape[1]), np.nan))
    with pytest.raises(ParameterError, match="cannot make"):
        tiny = [SegmentSite(f"t{i}", hr[i : i + 1], bundle, owner.signing_key.verify_key)
                for i in range(2)]
        federated_kmeans(tiny, owner, bundle, 3)


def test_what_the_cloud_receives_holds_no_plaintext_total(keys: KeySet, hr: np.ndarray) -> None:
    owner = SegmentOwner(keys)
    bundle = keys.public()
    site = make_sites(hr, owner, bundle)[0]
    centroids = hr[:3]
    scale = value_scale(bundle, len(hr))
    upload = site.respond(owner.request(owner.new_run(), 1, scale, centroids))
    labels, _ = nearest(site.x, centroids)
    totals = [float(np.sum(labels == j)) for j in range(3)]
    totals += [float(v) for j in range(3) for v in site.x[labels == j].sum(axis=0)]
    # The clear parts are the two JSON headers; the rest is SEAL ciphertext, uniformly random
    # bytes in which a short pattern (4 bytes: one chance in 2^32 per offset) turns up by chance.
    outer, records = container.from_bytes(upload, ArtifactKind.CONTRIBUTION)
    inner, _ = container.from_bytes(records[0][1], container.Kind.VECTOR)
    clear = json.dumps([outer.fields, inner.fields]).encode()
    for value in totals:  # neither the value nor its scaled form, in any common encoding
        for v in (value, value * scale):
            assert np.float64(v).tobytes() not in upload  # 8 bytes: no chance match in the blob
            for raw in (np.float32(v).tobytes(), repr(v).encode(), f"{v:.6g}".encode()):
                if len(raw) >= 4 and raw not in (b"0.0", b"-0.0"):
                    assert raw not in clear
