"""Released linear models in the formats users deploy: a scikit-learn pipeline, an ONNX model.

Both take the raw feature rows `hedge predict` takes (the schema's feature columns, unscaled;
other columns are ignored) and give its scores: the schema's scaling comes first, then the
linear model.

* `to_pipeline(model)`: a fitted `sklearn.pipeline.Pipeline` over a DataFrame, steps `scale`
  (a `ColumnTransformer`: each numeric feature scaled from the schema's [low, high] to [-1, 1]
  and clipped to it, as `hedge predict` clips; each category feature one-hot over the schema's
  categories; numeric features first, then categories, each in the schema's order) and
  `model`, whose coefficients follow that order. A logistic model ends in
  `LogisticRegression`: `predict_proba(rows)[:, 1]` is hedge's probability. A ridge model ends
  in `LinearRegression` with the label's scaling folded into its weights: `predict(rows)` is
  hedge's prediction, in the label's units. It holds only scikit-learn and numpy objects, so a
  pickle of it loads without hedge.
* `to_onnx(model)`: that pipeline converted by skl2onnx. One input per schema feature, of shape
  [rows, 1] (`input_names` gives each feature's input; numeric inputs float32 or float64, as
  chosen, category inputs strings); outputs `label` and `probabilities` (column 1: hedge's
  probability) for logistic models, `variable` (hedge's prediction) for ridge ones. The model's
  metadata `hedge.inputs` maps the feature names to the inputs, `hedge.score` names the output.

Where the exports differ from `hedge predict`: it refuses rows with missing or non-numeric
values and unknown categories (`SchemaError`); the pipeline passes a missing value on as NaN
and raises scikit-learn's `ValueError` for an unknown category, and the ONNX model gives NaN and
all-zero indicators. Schemas with windows: the window columns must be in the rows, as for
`hedge predict`. Needs the 'export' extra (scikit-learn, skl2onnx, onnx, onnxruntime).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, OneHotEncoder

from hedge.data import Feature, Schema
from hedge.errors import ParameterError, SchemaError
from hedge.ml.model import LinearModel

__all__ = ["check_onnx", "input_names", "onnx_feeds", "onnx_scores", "score_tolerance", "to_onnx",
           "to_pipeline"]

Precision = Literal["float32", "float64"]


def _schema(model: LinearModel) -> Schema:
    if model.schema is None:
        raise SchemaError("this model carries no schema, so no scaling of raw rows to export; "
                          "release it from a training with a schema")
    return Schema.from_dict(model.schema)


def _scaling(schema: Schema, columns: list[str], *, text: bool) -> ColumnTransformer:
    """The schema's scaling over the frame columns `columns` (one per feature), fitted; `text`
    turns category values into text first, as the schema compares them (ONNX inputs are
    text already)."""
    steps: list[tuple[str, Any, list[str]]] = []
    for i in _feature_order(schema):
        feature, column = schema.features[i], columns[i]
        if feature.kind == "numeric":  # fitted on the probe rows: [low, high] -> [-1, 1]
            steps.append((f"f{i}", MinMaxScaler(feature_range=(-1.0, 1.0), clip=True),
                          [column]))
        else:
            onehot = OneHotEncoder(categories=[list(feature.categories)], sparse_output=False,
                                   handle_unknown="error", dtype=np.float64)
            as_text = FunctionTransformer(np.asarray, kw_args={"dtype": str})
            steps.append((f"f{i}", Pipeline([("text", as_text), ("onehot", onehot)])
                          if text else onehot, [column]))
    scale = ColumnTransformer(steps, remainder="drop", verbose_feature_names_out=False)
    scale.fit(_probe(schema, columns))
    ordered = [schema.features[i] for i in _feature_order(schema)]
    for feature, (_, fitted, _) in zip(ordered, scale.transformers_, strict=False):
        if feature.kind == "numeric" and feature.high == feature.low:
            _constant(fitted, feature)
    return scale


def _feature_order(schema: Schema) -> list[int]:
    """The features numeric first, each kind in the schema's order: skl2onnx gives the
    concatenated columns the type of the first, which must be the chosen precision's (one-hot
    columns are float32)."""
    return sorted(range(len(schema.features)), key=lambda i: schema.features[i].kind != "numeric")


def _column_order(schema: Schema) -> np.ndarray:
    """The model's column indices in the scaling step's output order (`_feature_order`)."""
    starts = np.cumsum([0, *(len(f.columns) for f in schema.features)])
    return np.concatenate([np.arange(starts[i], starts[i + 1]) for i in _feature_order(schema)])


def _constant(scaler: MinMaxScaler, feature: Feature) -> None:
    """A zero-width range scales to 0, as the schema does (scikit-learn would give -1)."""
    assert scaler.data_range_[0] == 0, feature
    scaler.scale_ = np.zeros(1)
    scaler.min_ = np.zeros(1)


def _probe(schema: Schema, columns: list[str]) -> pd.DataFrame:
    """Rows at each numeric feature's low, high and midpoint, and each category once."""
    rows = max(3, *(len(f.categories) for f in schema.features))
    data: dict[str, Any] = {}
    for feature, column in zip(schema.features, columns, strict=True):
        if feature.kind == "numeric":
            cycle: list[Any] = [feature.low, feature.high, (feature.low + feature.high) / 2]
        else:
            cycle = list(feature.categories)
        data[column] = [cycle[i % len(cycle)] for i in range(rows)]
    return pd.DataFrame(data)


def _final(model: LinearModel, schema: Schema) -> Any:
    """The linear model over the scaling step's columns (coefficients in its order)."""
    order = _column_order(schema)
    if model.kind == "logistic":
        final = model.to_sklearn()
        final.coef_ = final.coef_[:, order]
        return final
    label = schema.label
    if label is None or label.kind != "continuous":
        raise SchemaError("a ridge model needs its label's range in its schema to predict in "
                          "the label's units; release it from a training with a schema")
    half = (label.high - label.low) / 2.0
    final = LinearRegression()
    final.coef_ = np.asarray(model.coef, dtype=np.float64)[order] * half
    final.intercept_ = np.float64(label.low + (model.intercept + 1.0) * half)
    final.n_features_in_ = len(model.columns)
    return final


def to_pipeline(model: LinearModel) -> Pipeline:
    """The fitted scikit-learn pipeline (the module's docstring says what it takes and gives);
    `SchemaError` for a model without a schema (or a ridge model without its label's range)."""
    schema = _schema(model)
    names = [f.name for f in schema.features]
    return Pipeline([("scale", _scaling(schema, names, text=True)),
                     ("model", _final(model, schema))])


def input_names(schema: Schema) -> dict[str, str]:
    """Each feature's ONNX input name: the name with every character but ASCII letters, digits
    and '_' replaced by '_' (a leading digit gets a '_' before it), numbered where two would be
    the same."""
    taken: set[str] = set()
    names: dict[str, str] = {}
    for feature in schema.features:
        base = re.sub(r"[^A-Za-z0-9_]", "_", feature.name)
        base = f"_{base}" if base[0].isdigit() else base
        name, n = base, 2
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        taken.add(name)
        names[feature.name] = name
    return names


def to_onnx(model: LinearModel, precision: Precision = "float32") -> bytes:
    """The ONNX model (serialized) of `to_pipeline(model)`; numeric inputs and the scores of
    `precision`. `SchemaError` as for `to_pipeline`; `ParameterError` for float64 without a
    numeric feature."""
    from skl2onnx import convert_sklearn  # noqa: PLC0415 - slow to import
    from skl2onnx.common.data_types import (  # noqa: PLC0415
        DoubleTensorType,
        FloatTensorType,
        StringTensorType,
    )

    schema = _schema(model)
    if precision == "float64" and all(f.kind == "category" for f in schema.features):
        raise ParameterError("precision float64 needs a numeric feature: a model over category "
                             "features alone computes in float32 in ONNX; export it as float32")
    inputs = input_names(schema)
    pipeline = Pipeline([("scale", _scaling(schema, list(inputs.values()), text=False)),
                         ("model", _final(model, schema))])
    number = FloatTensorType if precision == "float32" else DoubleTensorType
    types = [(inputs[f.name], number([None, 1]) if f.kind == "numeric"
              else StringTensorType([None, 1])) for f in schema.features]
    options = {id(pipeline.steps[-1][1]): {"zipmap": False}} if model.kind == "logistic" else {}
    onnx_model = convert_sklearn(pipeline, initial_types=types, options=options)
    score = "probabilities[:, 1]" if model.kind == "logistic" else "variable[:, 0]"
    for key, value in (("hedge.inputs", json.dumps(inputs)), ("hedge.score", score),
                       ("hedge.kind", model.kind)):
        entry = onnx_model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx_model.doc_string = (f"hedge {model.kind} model over {len(schema.features)} raw "
                             f"features; score: {score}")
    raw: bytes = onnx_model.SerializeToString()
    return raw


def onnx_feeds(frame: pd.DataFrame, model: LinearModel,
               precision: Precision = "float32") -> dict[str, np.ndarray]:
    """The ONNX model's inputs for raw rows: each feature's column as a [rows, 1] array
    (numbers of `precision`, categories as text); `SchemaError` naming a missing column."""
    schema = _schema(model)
    missing = [f.name for f in schema.features if f.name not in frame.columns]
    if missing:
        raise SchemaError(f"the rows lack column(s) {missing} that the model's schema requires; "
                          f"they have {list(frame.columns)}")
    feeds: dict[str, np.ndarray] = {}
    for feature, name in zip(schema.features, input_names(schema).values(), strict=True):
        column = frame[[feature.name]]
        feeds[name] = (column.to_numpy(np.dtype(precision)) if feature.kind == "numeric"
                       else column.astype(str).to_numpy(object))
    return feeds


def score_tolerance(model: LinearModel, precision: Precision = "float32") -> float:
    """How far the ONNX model's scores may be from hedge's: 1e-5 for float32 (a probability in
    [0, 1]; a prediction: times the larger of 1 and the label range's largest magnitude, as
    float32 rounds relative to the value), 1e-9 for float64 (alike)."""
    step = 1e-5 if precision == "float32" else 1e-9
    if model.kind == "logistic" or model.schema is None:
        return step
    label = Schema.from_dict(model.schema).label
    span = 1.0 if label is None else max(1.0, abs(label.high), abs(label.low))
    return step * span


def onnx_scores(raw: bytes, frame: pd.DataFrame, model: LinearModel,
                precision: Precision = "float32") -> np.ndarray:
    """The scores of the ONNX model `raw` (from `to_onnx(model, precision)`) for raw rows, by
    onnxruntime: probabilities (logistic) or predictions (ridge), as float64."""
    import onnxruntime  # noqa: PLC0415 - slow to import

    session = onnxruntime.InferenceSession(raw, providers=["CPUExecutionProvider"])
    output = "probabilities" if model.kind == "logistic" else "variable"
    (values,) = session.run([output], onnx_feeds(frame, model, precision))
    column = 1 if model.kind == "logistic" else 0
    return np.asarray(values, dtype=np.float64)[:, column]


def check_onnx(raw: bytes, model: LinearModel, precision: Precision = "float32") -> float:
    """The largest difference between the ONNX model's scores and `model.predict_frame`'s on
    rows probing the schema (each numeric feature at its low, high and midpoint, each category);
    `SchemaError` if it exceeds `score_tolerance`."""
    schema = _schema(model)
    rows = _probe(schema, [f.name for f in schema.features])
    worst = float(np.max(np.abs(onnx_scores(raw, rows, model, precision)
                                - model.predict_frame(rows))))
    if not worst <= score_tolerance(model, precision):
        raise SchemaError(f"the ONNX model's scores differ from hedge's by {worst:.3g}, beyond "
                          f"{score_tolerance(model, precision):g}; export with precision "
                          "float64, or report this")
    return worst
