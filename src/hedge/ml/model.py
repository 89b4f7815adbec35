"""Trained linear models, logistic or ridge: encrypted (cloud side), decrypted (owner, edges)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression, Ridge

from hedge.ckks import EncryptedVector, KeySet, PublicBundle, container
from hedge.data import Schema
from hedge.errors import CorruptDataError, ParameterError, SchemaError
from hedge.files import read_json, write_atomic, write_json
from hedge.ml.dataset import BIAS
from hedge.ml.layout import RowLayout

__all__ = ["EncryptedLinearModel", "LinearModel"]

_TAG_WEIGHTS, _TAG_TILED = 1, 2


@dataclass
class LinearModel:
    """A decrypted model over the schema's scaled columns: score = intercept + x . coef, a
    probability sigmoid(score) for kind 'logistic', a (scaled) value for kind 'ridge'."""

    columns: list[str]
    intercept: float
    coef: np.ndarray
    schema: dict[str, Any] | None = None
    kind: str = "logistic"

    def margin_bound(self) -> float:
        """|intercept| + sum |coef|: a bound on |score| for features in [-1, 1], where the
        schema scales them (the default R of encrypted evaluation)."""
        return abs(float(self.intercept)) + float(np.abs(self.coef).sum())

    def predict_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """For raw rows, scaled with the model's schema: probabilities (logistic) or values in
        the label's own units (ridge)."""
        if self.schema is None:
            raise SchemaError("this model carries no schema; scale the features yourself")
        schema = Schema.from_dict(self.schema)
        x = schema.features_matrix(frame, out_of_range="clip")
        if self.kind == "logistic":
            return self.predict_proba(x)
        label = schema.label
        if label is None:
            raise SchemaError("a regression model needs the label's range in its schema")
        scaled = self.decision_function(x)
        return np.asarray(label.low + (scaled + 1.0) / 2.0 * (label.high - label.low))

    def to_dict(self) -> dict[str, Any]:
        """The model as JSON data (model files, deployment packages)."""
        return {"version": 1, "kind": self.kind, "columns": self.columns,
                "intercept": self.intercept, "coef": self.coef.tolist(), "schema": self.schema}

    @classmethod
    def from_dict(cls, body: dict[str, Any], what: str = "the model") -> LinearModel:
        """The model from `to_dict`'s data, checked; `SchemaError` naming `what` if not."""
        try:
            if body.get("kind") not in ("logistic", "ridge") or body.get("version") != 1:
                raise SchemaError(f"{what} is not a hedge model")
            coef = np.asarray(body["coef"], dtype=np.float64)
            model = cls(list(body["columns"]), float(body["intercept"]), coef, body.get("schema"),
                        body["kind"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, SchemaError):
                raise
            raise SchemaError(f"{what} is not a hedge model file: {exc}") from exc
        if coef.shape != (len(model.columns),) or not np.all(np.isfinite(coef)):
            raise SchemaError(f"{what}: coefficients do not match the columns")
        return model

    def save(self, path: str | os.PathLike[str]) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LinearModel:
        return cls.from_dict(read_json(path, "hedge model"), str(path))

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        scores: np.ndarray = np.asarray(x, dtype=np.float64) @ self.coef + self.intercept
        return scores

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Probability of the positive class for scaled feature rows."""
        proba: np.ndarray = 1.0 / (1.0 + np.exp(-self.decision_function(x)))
        return proba

    def to_sklearn(self) -> LogisticRegression | Ridge:
        """An equivalent, fitted scikit-learn model: `LogisticRegression`, or `Ridge` (on the
        scaled label) for ridge models."""
        if self.kind == "ridge":
            ridge = Ridge()
            ridge.coef_ = self.coef.copy()
            ridge.intercept_ = self.intercept
            ridge.n_features_in_ = self.coef.size
            return ridge
        model = LogisticRegression()
        model.classes_ = np.array([0, 1])
        model.coef_ = self.coef.reshape(1, -1)
        model.intercept_ = np.array([self.intercept])
        model.n_features_in_ = self.coef.size
        return model


@dataclass
class EncryptedLinearModel:
    """Weights as ciphertext (a vector of the model's length); only the owner can decrypt.

    `tiled` holds the same weights tiled [w, w] in every row of `layout`, times `tiled_scale`
    (1 as training leaves them; a refresh may fold a factor in, see
    `hedge.ml.refresh.refresh_tiled`): what encrypted evaluation multiplies the data rows with
    (`hedge.ml.evaluate`, `hedge.ml.confusion`)."""

    weights: EncryptedVector
    layout: RowLayout
    columns: list[str]
    schema: dict[str, Any] | None = None
    kind: str = "logistic"
    tiled: EncryptedVector | None = None
    tiled_scale: float = 1.0

    @classmethod
    def encrypt(cls, model: LinearModel, bundle: PublicBundle, *,
                margin_bound: float | None = None) -> EncryptedLinearModel:
        """A released logistic model encrypted afresh (by its owner, with the public bundle),
        so that a party that must not learn it can score it on encrypted data
        (`hedge.ml.evaluate.brier_score`, `hedge.ml.confusion.confusion_counts`). Its tiled
        weights are at the top level and carry 1 / R, R the margin bound: by default
        |b| + sum |w_j|, a true bound since the schema scales features into [-1, 1]."""
        if model.kind != "logistic":
            raise SchemaError(f"encrypted evaluation scores logistic models, not {model.kind}")
        w = np.concatenate([[model.intercept], np.asarray(model.coef, dtype=np.float64)])
        bound = model.margin_bound() if margin_bound is None else float(margin_bound)
        if not (np.isfinite(bound) and bound > 0 and bound != 1.0):
            # R = 1 would leave tiled_scale 1, which means "no bound folded in"
            raise ParameterError(f"the margin bound must be positive and not 1, not {bound!r}")
        columns = [BIAS, *model.columns]
        layout = RowLayout(len(columns), bundle.params.slot_count)
        return cls(bundle.encrypt(w), layout, columns, model.schema, "logistic",
                   bundle.encrypt(layout.tile(w / bound)), 1.0 / bound)

    def decrypt(self, keys: KeySet, *, release: bool = True) -> LinearModel:
        """Decrypt the weights; `release` (default) floods and rounds them, as for any value
        that leaves the owner."""
        values = keys.release(self.weights).values if release else keys.decrypt(self.weights)
        w = np.asarray(values)
        return LinearModel(self.columns[1:], float(w[0]), np.asarray(w[1:]), self.schema,
                             self.kind)

    def to_bytes(self) -> bytes:
        header = {"kind": self.kind, "columns": self.columns, "schema": self.schema,
                  "fingerprint": self.weights.fingerprint, "tiled_scale": self.tiled_scale}
        records = [(_TAG_WEIGHTS, self.weights.to_bytes())]
        if self.tiled is not None:
            records.append((_TAG_TILED, self.tiled.to_bytes()))
        return container.to_bytes(container.Kind.MODEL, header, records)

    def save(self, path: str | os.PathLike[str]) -> None:
        write_atomic(path, self.to_bytes())

    @classmethod
    def load(cls, path: str | os.PathLike[str], bundle: PublicBundle) -> EncryptedLinearModel:
        return cls.from_bytes(Path(path).read_bytes(), bundle)

    @classmethod
    def from_bytes(cls, raw: bytes, bundle: PublicBundle) -> EncryptedLinearModel:
        header, records = container.from_bytes(raw, container.Kind.MODEL)
        try:
            columns = [str(c) for c in header.fields["columns"]]
            schema = header.fields.get("schema")
            kind = str(header.fields["kind"])
            tiled_scale = float(header.fields.get("tiled_scale", 1.0))
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptDataError(f"model header is malformed: {exc}") from exc
        if not (np.isfinite(tiled_scale) and tiled_scale > 0):
            raise CorruptDataError("the model's tiled scale must be a positive number")
        tags = [tag for tag, _ in records]
        if tags not in ([_TAG_WEIGHTS], [_TAG_WEIGHTS, _TAG_TILED]):
            raise CorruptDataError("a model file holds its weights vector, then optionally its "
                                   "tiled weights")
        weights = EncryptedVector.from_bytes(records[0][1], bundle)
        tiled = EncryptedVector.from_bytes(records[1][1], bundle) if len(records) == 2 else None
        if weights.length != len(columns):
            raise CorruptDataError("model weights do not match its columns")
        if isinstance(schema, dict):
            try:
                expected = ["(bias)", *Schema.from_dict(schema).columns]
            except SchemaError as exc:
                raise CorruptDataError(f"model schema is malformed: {exc}") from exc
            if expected != columns:
                raise CorruptDataError("model columns do not match its schema; refusing to "
                                       "release it")
        layout = RowLayout(len(columns), bundle.params.slot_count)
        if kind not in ("logistic", "ridge"):
            raise CorruptDataError(f"unknown model kind {kind!r}")
        if tiled is not None and tiled.length != layout.slots:
            raise CorruptDataError("the model's tiled weights do not fill its layout")
        return cls(weights, layout, columns, schema if isinstance(schema, dict) else None, kind,
                   tiled, tiled_scale)
