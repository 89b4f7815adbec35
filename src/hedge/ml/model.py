"""Trained linear models, logistic or ridge: encrypted (cloud side), decrypted (owner, edges)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hedge.ckks import EncryptedVector, PublicBundle
from hedge.ckks.fields import Fields, describe
from hedge.ckks.release import Releases
from hedge.data import Schema
from hedge.errors import CorruptDataError, ParameterError, SchemaError
from hedge.extras import needs_extra
from hedge.files import read_json, write_atomic, write_json
from hedge.ml.artifact import ArtifactFormat, ArtifactKind, Role
from hedge.ml.dataset import BIAS
from hedge.ml.layout import RowLayout

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression, Ridge

__all__ = ["EncryptedLinearModel", "LinearModel"]

#: Model files: the weights (one per column), then optionally the tiled weights (filling the
#: layout).
MODEL_FILE = ArtifactFormat(
    ArtifactKind.MODEL, "model", (Role(1, "weights"), Role(2, "tiled")),
    "this model was encrypted under another key set; use the bundle it was made with",
    unnamed_legacy=True)

#: The largest margin bound (|b| + sum |w|, `LinearModel.margin_bound`) of a plausible model.
#: A logistic score beyond about 37 already gives a probability float64 cannot tell from 0 or 1,
#: and a ridge model predicts its label scaled into [-1, 1], so trained models stay far below:
#: the largest bound of the trained references in the tests and the demo is about 34
#: (scikit-learn, unregularised, on the AI4I machine data), 13 on the Edinburgh data, 2.2 for
#: ridge on C-MAPSS, and models trained on ciphertexts are smaller still. The bound is a worst
#: case (every feature at a corner of [-1, 1], every category indicator at once), so the limit
#: leaves about 30 times the largest of them; beyond it weights come from no training but from
#: a broken release or a forged model.
MAX_MARGIN = 1000.0


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

    def check_plausible(self, max_margin: float = MAX_MARGIN) -> None:
        """`SchemaError` unless the intercept and every coefficient are finite and the margin
        bound is at most `max_margin` (`MAX_MARGIN` says why): a model that fails would give
        saturated or non-finite scores on the rows the schema scales, whatever its probe rows
        show. `ParameterError` if `max_margin` is not a positive number."""
        if not (np.isfinite(max_margin) and max_margin > 0):
            raise ParameterError(f"max_margin must be a positive number, not {max_margin!r}")
        if not np.isfinite(self.intercept):
            raise SchemaError(f"the model's intercept is {self.intercept!r}, not a finite "
                              "number; release the model again")
        coef = np.asarray(self.coef, dtype=np.float64)
        if coef.shape != (len(self.columns),):
            raise SchemaError(f"the model has {coef.size} coefficients for its "
                              f"{len(self.columns)} columns; release the model again")
        bad = [c for c, w in zip(self.columns, coef, strict=True) if not np.isfinite(w)]
        if bad:
            raise SchemaError(f"the model's coefficient {bad[0]!r} (and {len(bad) - 1} more) "
                              "is not a finite number; release the model again")
        with np.errstate(over="ignore"):  # weights near the float limit: an infinite bound
            bound = self.margin_bound()
        if not bound <= max_margin:
            raise SchemaError(f"the model's margin bound |b| + sum |w| = {bound:.4g} is beyond "
                              f"{max_margin:g}: its scores would saturate on scaled rows, as no "
                              "trained model does (hedge.ml.model.MAX_MARGIN); check the "
                              "training and release the model again")

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
        """The model from `to_dict`'s data, checked field by field with exact JSON types
        (`version` 1, `kind` 'logistic' or 'ridge', `columns` distinct non-empty names,
        `intercept` and `coef` finite numbers, one coefficient per column, `schema` null or a
        schema whose columns are the model's); `SchemaError` naming `what` and the field if
        not."""
        if not isinstance(body, dict):
            raise SchemaError(f"{what} is not a hedge model: expected a JSON object, got "
                              f"{describe(body)}")
        fields = Fields(body, what, SchemaError)
        if body.get("kind") not in ("logistic", "ridge") or body.get("version") != 1 or (
                type(body.get("version")) is not int):
            raise SchemaError(f"{what} is not a hedge model (its 'kind' and 'version')")
        columns = fields.strings("columns", max_items=1 << 16, max_length=1024, distinct=True)
        intercept = fields.number("intercept", -math.inf, math.inf)
        coef = np.asarray(fields.numbers("coef", min_items=len(columns),
                                         max_items=len(columns)), dtype=np.float64)
        schema = fields.optional_object("schema")
        if schema is not None:
            try:
                expected = Schema.from_dict(schema).columns
            except SchemaError as exc:
                raise SchemaError(f"{what}: its schema is malformed: {exc}") from exc
            if expected != columns:
                raise SchemaError(f"{what}: its columns are not those of its schema")
        return cls(columns, intercept, coef, schema, str(body["kind"]))

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
        scaled label) for ridge models. Needs scikit-learn (the 'export' extra)."""
        with needs_extra("export", "LinearModel.to_sklearn"):
            from sklearn.linear_model import LogisticRegression, Ridge  # noqa: PLC0415
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
    (`hedge.ml.metrics`, `hedge.ml.confusion`)."""

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
        (`hedge.ml.metrics.brier_score`, `hedge.ml.confusion.confusion_counts`). Its tiled
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

    def decrypt(self, releases: Releases) -> LinearModel:
        """Release the weights (one release: flooded and rounded, as any value that leaves the
        owner; `hedge.ckks.hazmat.ExactReleases` for exact ones that stay with it)."""
        w = np.asarray(releases.release(self.weights).values)
        return LinearModel(self.columns[1:], float(w[0]), np.asarray(w[1:]), self.schema,
                             self.kind)

    def to_bytes(self) -> bytes:
        header = {"kind": self.kind, "columns": self.columns, "schema": self.schema,
                  "tiled_scale": self.tiled_scale}
        return MODEL_FILE.write(header, {"weights": [self.weights],
                                         "tiled": [] if self.tiled is None else [self.tiled]})

    def save(self, path: str | os.PathLike[str]) -> None:
        write_atomic(path, self.to_bytes())

    @classmethod
    def load(cls, path: str | os.PathLike[str], bundle: PublicBundle) -> EncryptedLinearModel:
        return cls.from_bytes(Path(path).read_bytes(), bundle)

    @classmethod
    def from_bytes(cls, raw: bytes, bundle: PublicBundle) -> EncryptedLinearModel:
        """Parse and check a model file: `KeyMismatchError` for another key set's,
        `CorruptDataError` naming the field for anything malformed. Header (exact JSON types,
        checked before any ciphertext): `kind` 'logistic' or 'ridge', `columns` 2 to slots / 2
        distinct non-empty names starting with the bias, `schema` null or a schema of those
        columns, `tiled_scale` a finite positive number; then its vectors (`MODEL_FILE`, whose
        reader checks the key set and the records' tags first)."""
        reader = MODEL_FILE.open(raw, bundle)
        fields = reader.fields
        columns = fields.strings("columns", min_items=2, max_items=bundle.params.slot_count // 2,
                                 max_length=1024, distinct=True)
        if columns[0] != BIAS:
            raise fields.fail("columns", f"a list of column names starting with {BIAS!r}")
        kind = fields.string("kind", choices=("logistic", "ridge"))
        tiled_scale = fields.number("tiled_scale", 0.0, 1e300, 1.0, open_low=True)
        schema = fields.optional_object("schema")
        if schema is not None:
            try:
                expected = [BIAS, *Schema.from_dict(schema).columns]
            except SchemaError as exc:
                raise CorruptDataError(f"model schema is malformed: {exc}") from exc
            if expected != columns:
                raise CorruptDataError("model columns do not match its schema; refusing to "
                                       "release it")
        vectors = reader.vectors({"weights": 1, "tiled": (0, 1)})
        layout = RowLayout(len(columns), bundle.params.slot_count)
        weights = vectors["weights"][0]
        if weights.length != len(columns):
            raise CorruptDataError("model weights do not match its columns")
        tiled = vectors["tiled"][0] if vectors["tiled"] else None
        if tiled is not None and tiled.length != layout.slots:
            raise CorruptDataError("the model's tiled weights do not fill its layout")
        return cls(weights, layout, columns, schema, kind, tiled, tiled_scale)
