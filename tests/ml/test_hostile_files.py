"""Model, evaluation, statistics, k-means and segments files crafted by another party (valid
checksums and signatures where the parser checks them, hostile fields): each is the parser's
own `HedgeError` naming the field, never an OverflowError, TypeError or KeyError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hedge.ckks import KeySet, PublicBundle, container
from hedge.data import Schema
from hedge.errors import CorruptDataError, SchemaError
from hedge.ml import LinearModel
from hedge.ml.artifact import ArtifactKind
from hedge.ml.confusion import EncryptedConfusion
from hedge.ml.evaluation import EncryptedEvaluation
from hedge.ml.model import EncryptedLinearModel
from hedge.ml.pooled_statistics import PooledStatistics
from hedge.ml.sign_approximation import SignApproximation
from hedge.segmentation import SegmentOwner, SegmentSite, aggregate, value_scale
from hedge.segmentation.run import KMeansResult
from hedge.segmentation.segments import Segments

Fields = dict[str, Any]
FEATURES: list[Fields] = [{"name": "a", "kind": "numeric", "low": -1.0, "high": 1.0},
                          {"name": "b", "kind": "numeric", "low": 0.0, "high": 4.0}]
SCHEMA: Fields = {"version": 1, "features": FEATURES}


@pytest.fixture(scope="module")
def bundle(other_keys: KeySet) -> PublicBundle:
    return other_keys.public()


def _changed(raw: bytes, container_kind: int, **changes: Any) -> bytes:
    header, records = container.from_bytes(raw, container_kind)
    return container.to_bytes(container_kind, dict(header.fields, **changes), records)


# -- encrypted models ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_bytes(bundle: PublicBundle) -> bytes:
    model = LinearModel(["a", "b"], 0.5, np.array([0.25, -0.5]), SCHEMA)
    return EncryptedLinearModel.encrypt(model, bundle).to_bytes()


@pytest.mark.parametrize(("changes", "field"), [
    ({"tiled_scale": 10**400}, "tiled_scale"),
    ({"tiled_scale": True}, "tiled_scale"),
    ({"tiled_scale": "0.5"}, "tiled_scale"),
    ({"columns": "ab"}, "columns"),
    ({"columns": ["(bias)", "a", "a"]}, "columns"),
    ({"kind": ["logistic"]}, "kind"),
    ({"schema": "none"}, "schema"),
], ids=lambda v: repr(v)[:30])
def test_a_crafted_model_header_is_refused_naming_the_field(
        bundle: PublicBundle, model_bytes: bytes, changes: Fields, field: str) -> None:
    raw = _changed(model_bytes, ArtifactKind.MODEL, **changes)
    with pytest.raises(CorruptDataError, match=f"'{field}'"):
        EncryptedLinearModel.from_bytes(raw, bundle)


def test_a_model_file_control(bundle: PublicBundle, model_bytes: bytes) -> None:
    model = EncryptedLinearModel.from_bytes(model_bytes, bundle)
    assert model.columns == ["(bias)", "a", "b"] and model.tiled is not None


# -- evaluations and statistics --------------------------------------------------------------


@pytest.fixture(scope="module")
def evaluation_bytes(bundle: PublicBundle) -> bytes:
    confusion = EncryptedConfusion(bundle.encrypt(np.zeros(5)), 7, 4,
                                   SignApproximation.for_levels(6), 2.0)
    return EncryptedEvaluation(bundle.encrypt(np.array([1.0])), confusion).to_bytes()


@pytest.mark.parametrize(("changes", "field"), [
    ({"margin_bound": 10**400}, "margin_bound"),
    ({"margin_bound": 1e7}, "margin_bound"),  # beyond what the Brier score is fitted for
    ({"rows": True}, "rows"),
    ({"rows": 7.0}, "rows"),
    ({"width": "4"}, "width"),
    ({"stages": [["1.5"]]}, "stages"),
    ({"stages": [[10**400]]}, "stages"),
    ({"stages": "[[0.5]]"}, "stages"),
], ids=lambda v: repr(v)[:30])
def test_a_crafted_evaluation_header_is_refused_naming_the_field(
        bundle: PublicBundle, evaluation_bytes: bytes, changes: Fields, field: str) -> None:
    raw = _changed(evaluation_bytes, ArtifactKind.EVALUATION, **changes)
    with pytest.raises(CorruptDataError, match=f"'{field}'"):
        EncryptedEvaluation.from_bytes(raw, bundle)


def test_an_evaluation_file_control(bundle: PublicBundle, evaluation_bytes: bytes) -> None:
    assert EncryptedEvaluation.from_bytes(evaluation_bytes, bundle).confusion.rows == 7


@pytest.mark.parametrize("columns", [["a", "a"], [], ["a", ""], "ab"])
def test_pooled_statistics_need_distinct_feature_names(bundle: PublicBundle,
                                                        columns: Any) -> None:
    vector = bundle.encrypt(np.zeros(2 * (1 + 2 * 2)))
    good = PooledStatistics(vector, ["a", "b"]).to_bytes()
    assert PooledStatistics.from_bytes(good, bundle).columns == ["a", "b"]
    raw = _changed(good, ArtifactKind.STATISTICS, columns=columns)
    with pytest.raises(CorruptDataError, match="'columns'"):
        PooledStatistics.from_bytes(raw, bundle)


# -- federated k-means --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kmeans_round(other_keys: KeySet) -> tuple[SegmentOwner, SegmentSite, dict[str, Any], bytes]:
    owner = SegmentOwner(other_keys)
    x = np.random.default_rng(3).uniform(-1, 1, (6, 2))
    site = SegmentSite("site-a", x, other_keys.public(), owner.signing_key.verify_key)
    request = owner.request(owner.new_run(), 1, value_scale(other_keys.public(), 6),
                            np.array([[0.5, 0.5], [-0.5, -0.5]]))
    return owner, site, request, site.respond(request)


@pytest.mark.parametrize("rows", [10**400, -1, True, 6.0, "6"])
def test_a_contribution_with_an_impossible_row_count_is_rejected(
        bundle: PublicBundle, kmeans_round: tuple[SegmentOwner, SegmentSite, dict[str, Any],
                                                  bytes], rows: Any) -> None:
    _, _, request, upload = kmeans_round
    assert aggregate(bundle, {"site-a": upload}, request, 2).sites == ["site-a"]
    crafted = _changed(upload, ArtifactKind.CONTRIBUTION, rows=rows)
    pooled = aggregate(bundle, {"site-a": crafted}, request, 2)
    assert pooled.sites == [] and "'rows'" in pooled.rejected["site-a"]
    assert pooled.rejected["site-a"].startswith("CorruptDataError")


@pytest.mark.parametrize(("payload", "field"), [
    ({"round": -2}, "round"),  # "not newer" than the default -1, without an answered round
    ({"round": 1, "centroids": None}, "centroids"),
    ({"round": 1, "centroids": [[0.5, 0.5], [0.5]]}, "centroids"),
    ({"round": 1, "centroids": [["0.5", "0.5"]]}, "centroids"),
    ({"round": 1, "centroids": [[10**400, 0.0]]}, "centroids"),
    ({"round": "1"}, "round"),
    ({"scale": 10**400}, "scale"),
    ({"run": ["r"]}, "run"),
], ids=lambda v: repr(v)[:40])
def test_a_signed_request_with_malformed_fields_is_refused_by_the_site(
        kmeans_round: tuple[SegmentOwner, SegmentSite, dict[str, Any], bytes],
        other_keys: KeySet, payload: Fields, field: str) -> None:
    """Signed by the owner itself (a bug there, or a key in the wrong hands): the site still
    refuses what it cannot act on, naming the field."""
    owner, _, request, _ = kmeans_round
    site = SegmentSite("fresh", np.zeros((3, 2)), other_keys.public(),
                       owner.signing_key.verify_key)
    signed = owner.signing_key.sign({**request["payload"], "run": "r2", **payload})
    with pytest.raises(CorruptDataError, match=f"'{field}'"):
        site.respond(signed)


# -- segments and decrypted models (JSON files) ---------------------------------------------


@pytest.fixture
def segments_file(tmp_path: Path) -> Path:
    result = KMeansResult(np.array([[0.5, -0.5], [-0.25, 0.75]]), np.array([4.0, 5.0]), 1.5, 3,
                          True, 7, [])
    path = tmp_path / "segments.json"
    Segments.from_result(result, Schema.from_dict(SCHEMA)).save(path)
    return path


@pytest.mark.parametrize(("changes", "field"), [
    ({"sizes": 5}, "sizes"),
    ({"inertia": 10**400}, "inertia"),
    ({"centroids": [[10**400, 0.0], [0.0, 0.0]]}, "centroids"),
    ({"rounds": 3.5}, "rounds"),
    ({"converged": "yes"}, "converged"),
    ({"features": "ab"}, "features"),
    ({"history": {"round": 1}}, "history"),
    ({"schema": {"version": 1, "features": [{"name": "a", "low": 10**400}]}}, "schema"),
], ids=lambda v: repr(v)[:30])
def test_a_crafted_segments_file_is_refused_naming_the_field(
        segments_file: Path, changes: Fields, field: str) -> None:
    assert Segments.load(segments_file).k == 2
    body = json.loads(segments_file.read_text())
    segments_file.write_text(json.dumps({**body, **changes}))
    with pytest.raises(SchemaError, match=field):
        Segments.load(segments_file)


@pytest.mark.parametrize(("changes", "field"), [
    ({"intercept": 10**400}, "intercept"),
    ({"intercept": "0.25"}, "intercept"),
    ({"coef": ["1.5", "-2.0"]}, "coef"),
    ({"coef": [10**400, 1.0]}, "coef"),
    ({"coef": [True, 1.0]}, "coef"),
    ({"columns": "ab"}, "columns"),
    ({"columns": ["a", "a"]}, "columns"),
    ({"schema": "none"}, "schema"),
    ({"schema": {**SCHEMA, "features": FEATURES[:1]}}, "schema"),
], ids=lambda v: repr(v)[:30])
def test_a_crafted_model_body_is_refused_naming_the_field(changes: Fields, field: str) -> None:
    body = LinearModel(["a", "b"], 0.25, np.array([1.5, -2.0]), SCHEMA).to_dict()
    assert LinearModel.from_dict(json.loads(json.dumps(body))).columns == ["a", "b"]
    with pytest.raises(SchemaError, match=field):
        LinearModel.from_dict({**body, **changes})
