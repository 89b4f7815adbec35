"""Exported models (hedge.ml.export) score raw rows as `LinearModel.predict_frame` (what
`hedge predict` writes) does: the scikit-learn pipeline to within float64 rounding (1e-12), the
ONNX model to within `score_tolerance` (float32: 1e-5 of a probability; float64: 1e-9)."""

from __future__ import annotations

import pickle

import numpy as np
import onnxruntime
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from hedge.data import Schema
from hedge.data.sites import AI4I_LEAKS, split_sites
from hedge.errors import ParameterError, SchemaError
from hedge.ml import LinearModel
from hedge.ml.export import (
    check_onnx,
    input_names,
    onnx_feeds,
    onnx_scores,
    score_tolerance,
    to_onnx,
    to_pipeline,
)

PRECISIONS = ("float32", "float64")

SCHEMA = Schema.from_dict({"version": 1, "features": [
    {"name": "code", "kind": "category", "categories": ["1", "2"]},  # a category first
    {"name": "Torque [Nm]", "kind": "numeric", "low": 3.8, "high": 76.6},
    {"name": "Torque_Nm_", "kind": "numeric", "low": 2.0, "high": 2.0},  # zero width
    {"name": "1st", "kind": "numeric", "low": -5.0, "high": 5.0},
    {"name": "Type", "kind": "category", "categories": ["H", "L", "M"]}],
    "label": {"name": "y", "kind": "binary", "positive": 1}})


def rows(rng: np.random.Generator, n: int = 200) -> pd.DataFrame:
    """Raw rows over SCHEMA, some outside its ranges (clipped alike), numeric-looking codes
    read as numbers (as a CSV gives them), and a column the schema does not know."""
    return pd.DataFrame({"Torque [Nm]": rng.uniform(0.0, 90.0, n), "Torque_Nm_": 2.0,
                         "1st": rng.uniform(-6.0, 6.0, n), "Type": rng.choice(list("HLM"), n),
                         "code": rng.choice([1, 2], n), "other": 1.0})


def logistic(rng: np.random.Generator) -> LinearModel:
    return LinearModel(SCHEMA.columns, 0.3, rng.normal(0.0, 1.5, len(SCHEMA.columns)),
                       SCHEMA.to_dict())


def ridge(rng: np.random.Generator) -> LinearModel:
    body = SCHEMA.to_dict()
    body["label"] = {"name": "rul", "kind": "continuous", "low": 0.0, "high": 300.0}
    return LinearModel(SCHEMA.columns, -0.1, rng.normal(0.0, 0.3, len(SCHEMA.columns)), body,
                       "ridge")


@pytest.mark.parametrize("kind", ["logistic", "ridge"])
def test_the_pipeline_scores_raw_rows_as_hedge_predict_does_and_unpickles(
        kind: str, rng: np.random.Generator) -> None:
    model = logistic(rng) if kind == "logistic" else ridge(rng)
    frame = rows(rng)
    pipeline = pickle.loads(pickle.dumps(to_pipeline(model)))
    scores = pipeline.predict_proba(frame)[:, 1] if kind == "logistic" else pipeline.predict(
        frame)
    np.testing.assert_allclose(scores, model.predict_frame(frame), rtol=0, atol=1e-12)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("kind", ["logistic", "ridge"])
def test_the_onnx_model_scores_raw_rows_as_hedge_predict_does(
        kind: str, precision: str, rng: np.random.Generator) -> None:
    model = logistic(rng) if kind == "logistic" else ridge(rng)
    frame = rows(rng)
    raw = to_onnx(model, precision)
    expected = model.predict_frame(frame)
    got = onnx_scores(raw, frame, model, precision)
    tolerance = score_tolerance(model, precision)
    assert tolerance == (1e-5 if precision == "float32" else 1e-9) * (
        1.0 if kind == "logistic" else 300.0)
    np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance)
    assert check_onnx(raw, model, precision) <= tolerance


def test_onnx_inputs_are_named_after_the_features_and_described_in_the_metadata(
        rng: np.random.Generator) -> None:
    names = input_names(SCHEMA)
    assert names == {"code": "code", "Torque [Nm]": "Torque__Nm_",
                     "Torque_Nm_": "Torque_Nm_", "1st": "_1st", "Type": "Type"}
    clash = Schema.from_dict({"version": 1, "features": [{"name": "a b"}, {"name": "a_b"},
                                                         {"name": "a-b"}]})
    assert input_names(clash) == {"a b": "a_b", "a_b": "a_b_2", "a-b": "a_b_3"}
    session = onnxruntime.InferenceSession(to_onnx(logistic(rng)),
                                           providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(names.values())
    assert [o.name for o in session.get_outputs()] == ["label", "probabilities"]
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["hedge.score"] == "probabilities[:, 1]" and meta["hedge.kind"] == "logistic"
    frame = rows(rng, 3)
    feeds = onnx_feeds(frame, logistic(rng))
    assert feeds["code"].ravel().tolist() == [str(v) for v in frame["code"]]
    assert feeds["Torque__Nm_"].dtype == np.float32 and feeds["Type"].dtype == object


def test_exports_refuse_models_they_cannot_scale_for_naming_what_is_missing(
        rng: np.random.Generator) -> None:
    bare = LinearModel(["a"], 0.0, np.array([1.0]))
    for export in (to_pipeline, to_onnx):
        with pytest.raises(SchemaError, match="carries no schema"):
            export(bare)
    no_range = ridge(rng)
    no_range.schema = SCHEMA.to_dict()  # a binary label: no range to predict in
    with pytest.raises(SchemaError, match="label's range"):
        to_pipeline(no_range)
    categories = Schema.from_dict({"version": 1, "features": [
        {"name": "T", "kind": "category", "categories": ["a", "b"]}]})
    with pytest.raises(ParameterError, match="needs a numeric feature"):
        to_onnx(LinearModel(categories.columns, 0.0, np.ones(2), categories.to_dict()),
                "float64")
    with pytest.raises(SchemaError, match=r"lack column\(s\) \['Type'\]"):
        onnx_feeds(rows(rng).drop(columns=["Type"]), logistic(rng))


def test_an_onnx_model_that_scores_otherwise_fails_the_check(rng: np.random.Generator) -> None:
    model = logistic(rng)
    other = LinearModel(model.columns, model.intercept + 1.0, model.coef, model.schema)
    with pytest.raises(SchemaError, match="differ from hedge's"):
        check_onnx(to_onnx(other), model)


@pytest.mark.datasets
@pytest.mark.parametrize("precision", PRECISIONS)
def test_on_ai4i_held_out_rows_the_exports_give_hedges_scores(precision: str) -> None:
    """A logistic model on AI4I 2020 (numeric features and the one-hot machine Type), fitted in
    the clear on the training rows' schema-scaled features as a release gives it, scored on
    the held-out rows (raw, some beyond the schema's inferred ranges)."""
    from hedge.data import load_ai4i

    frame = load_ai4i().drop(columns=list(AI4I_LEAKS))
    (train,), held = split_sites(frame, 1, holdout=0.2, seed=0,
                                  label="Machine failure")
    schema = Schema.infer(train, label="Machine failure")
    assert any(f.kind == "category" for f in schema.features)
    fitted = LogisticRegression(max_iter=2000).fit(schema.features_matrix(train),
                                                   schema.label_vector(train))
    model = LinearModel(schema.columns, float(fitted.intercept_[0]), fitted.coef_[0],
                        schema.to_dict())
    features = held.drop(columns=["Machine failure"])
    expected = model.predict_frame(features)
    np.testing.assert_allclose(to_pipeline(model).predict_proba(features)[:, 1], expected,
                               rtol=0, atol=1e-12)
    got = onnx_scores(to_onnx(model, precision), features, model, precision)
    np.testing.assert_allclose(got, expected, rtol=0,
                               atol=score_tolerance(model, precision))
