"""Schemas: which columns are features, how each is scaled, and what the label is.

A schema is plain JSON, written by hand or inferred from a site's own data (`Schema.infer`), and
shared by all sites of a consortium so that their encrypted data lines up column by column:

```json
{"version": 1,
 "features": [{"name": "Torque [Nm]", "kind": "numeric", "low": 3.8, "high": 76.6},
              {"name": "Type", "kind": "category", "categories": ["H", "L", "M"]}],
 "label": {"name": "Machine failure", "kind": "binary", "positive": 1}}
```

Numeric features are scaled linearly from [low, high] to [-1, 1] (the range CKKS presets and the
sigmoid approximations are sized for); categories become 0/1 indicator columns. Values outside
the declared range are schema drift: an error by default, or clipped on request. An optional
`"windows": [{"source": "Torque [Nm]", "size": 10, "stats": ["mean", "slope"]}]` derives
rolling-window columns per stream (`hedge.data.windows`); they are declared as numeric features.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from hedge.data.windows import Window, derived_columns, rolling_frame
from hedge.errors import SchemaError
from hedge.files import read_json, write_json

__all__ = ["Feature", "Label", "Schema"]

SCHEMA_VERSION = 1
_MAX_CATEGORIES = 32


@dataclass(frozen=True)
class Feature:
    """One input column: numeric with a declared range, or a category with its values."""

    name: str
    kind: Literal["numeric", "category"] = "numeric"
    low: float = 0.0
    high: float = 1.0
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind == "numeric":
            if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low > self.high:
                raise SchemaError(
                    f"feature {self.name!r}: range [{self.low}, {self.high}] is invalid"
                )
        elif self.kind == "category":
            if not self.categories or len(set(self.categories)) != len(self.categories):
                raise SchemaError(f"feature {self.name!r}: categories must be distinct, non-empty")
        else:
            raise SchemaError(f"feature {self.name!r}: unknown kind {self.kind!r}")

    @property
    def columns(self) -> list[str]:
        """Names of the model columns this feature becomes."""
        if self.kind == "numeric":
            return [self.name]
        return [f"{self.name}={c}" for c in self.categories]


@dataclass(frozen=True)
class Label:
    """The target: binary (with the value that counts as positive) or continuous (with a range)."""

    name: str
    kind: Literal["binary", "continuous"] = "binary"
    positive: Any = 1
    low: float = 0.0
    high: float = 1.0


@dataclass(frozen=True)
class Schema:
    features: tuple[Feature, ...]
    label: Label | None = None
    version: int = field(default=SCHEMA_VERSION)
    windows: tuple[Window, ...] = ()

    def __post_init__(self) -> None:
        if not self.features:
            raise SchemaError("a schema needs at least one feature")
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise SchemaError("feature names must be unique")
        if self.label is not None and self.label.name in names:
            raise SchemaError(f"the label {self.label.name!r} cannot also be a feature")
        kinds = {f.name: f.kind for f in self.features}
        for w in self.windows:
            if kinds.get(w.source) != "numeric":
                raise SchemaError(f"window source {w.source!r} must be a numeric feature of the "
                                  f"schema; it is {kinds.get(w.source, 'not a feature')}")
        undeclared = [c for c in derived_columns(self.windows) if kinds.get(c) != "numeric"]
        if undeclared:
            raise SchemaError(f"window column(s) {undeclared} must be declared as numeric "
                              "features with a range (Schema.infer(..., windows=...) does so)")

    def measured(self) -> Schema:
        """The schema of what the machines measure: without the window features."""
        if not self.windows:
            return self
        derived = set(derived_columns(self.windows))
        return replace(self, features=tuple(f for f in self.features if f.name not in derived),
                       windows=())

    def derived(self) -> Schema:
        """The schema of the window features alone (no label): what `measured` leaves out.
        `SchemaError` without windows."""
        if not self.windows:
            raise SchemaError("this schema has no windows, so no derived features")
        derived = set(derived_columns(self.windows))
        return replace(self, features=tuple(f for f in self.features if f.name in derived),
                       label=None, windows=())

    @property
    def columns(self) -> list[str]:
        """Model column names, in order (categories expanded)."""
        return [c for f in self.features for c in f.columns]

    # -- transforming data ---------------------------------------------------------------------

    def features_matrix(
        self, frame: pd.DataFrame, *, out_of_range: Literal["error", "clip"] = "error"
    ) -> np.ndarray:
        """The (rows, columns) float matrix in [-1, 1] (numeric) and {0, 1} (categories)."""
        self._require_columns(frame, [f.name for f in self.features])
        parts = [self._scale(f, frame[f.name], out_of_range) for f in self.features]
        return np.column_stack(parts) if parts else np.empty((len(frame), 0))

    def label_vector(self, frame: pd.DataFrame) -> np.ndarray:
        """Binary labels as 0/1, or continuous labels as given (finite floats)."""
        if self.label is None:
            raise SchemaError("this schema has no label; add one to train or evaluate")
        self._require_columns(frame, [self.label.name])
        column = frame[self.label.name]
        if column.isna().any():
            raise SchemaError(f"label {self.label.name!r} has missing values")
        if self.label.kind == "binary":
            values = set(column.unique())
            if len(values) > 2:
                raise SchemaError(f"binary label {self.label.name!r} has {len(values)} distinct "
                                  "values; this is label drift")
            return np.asarray((column == self.label.positive).to_numpy(dtype=np.float64))
        y = _numeric(column, self.label.name)
        span = self.label.high - self.label.low
        tolerance = 1e-9 * max(1.0, abs(self.label.low), abs(self.label.high))
        if y.min() < self.label.low - tolerance - span or y.max() > self.label.high + span:
            raise SchemaError(f"label {self.label.name!r} values {y.min()} .. {y.max()} are far "
                              f"outside the declared range [{self.label.low}, {self.label.high}]")
        return y

    def _require_columns(self, frame: pd.DataFrame, names: Iterable[str]) -> None:
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise SchemaError(
                f"the data lacks column(s) {missing} that the schema requires; "
                f"it has {list(frame.columns)}"
            )

    @staticmethod
    def _scale(f: Feature, column: pd.Series, out_of_range: str) -> np.ndarray:
        if f.kind == "category":
            values = column.astype(str)
            unknown = sorted(set(values) - set(f.categories))
            if unknown:
                raise SchemaError(f"feature {f.name!r} has categories {unknown[:5]} the schema "
                                  f"does not list ({list(f.categories)})")
            return np.column_stack([(values == c).to_numpy(np.float64) for c in f.categories])
        x = _numeric(column, f.name)
        span = f.high - f.low
        tolerance = 1e-9 * max(1.0, abs(f.low), abs(f.high))
        outside = (x < f.low - tolerance) | (x > f.high + tolerance)
        if outside.any():
            if out_of_range != "clip":
                raise SchemaError(
                    f"feature {f.name!r}: {int(outside.sum())} value(s) outside the declared "
                    f"range [{f.low}, {f.high}] (seen {x.min()} .. {x.max()}); this is schema "
                    "drift: widen the range in the schema, or clip explicitly"
                )
            x = np.clip(x, f.low, f.high)
        if span == 0:
            return np.zeros_like(x)
        return 2.0 * (x - f.low) / span - 1.0

    # -- inference and files ---------------------------------------------------------------------

    @classmethod
    def infer(cls, frame: pd.DataFrame, label: str | None = None, *,
              exclude: Sequence[str] = (), positive: Any = None,
              label_kind: Literal["binary", "continuous"] | None = None,
              margin: float = 0.0, windows: Sequence[Window] = (),
              stream_column: str | None = None) -> Schema:
        """Infer feature kinds and ranges from data (a site's own, or released statistics).

        Numeric columns get [min, max] widened by `margin` (a fraction of the span) and moved
        outward beyond the data (`_outward`; 0/1 indicators keep [0, 1]); text columns
        with at most 32 values become categories; other text columns must be excluded. The
        `windows`' columns are computed per stream (`rolling_frame`; exclude the stream column
        unless it is a feature) and added as numeric features."""
        if windows:
            frame = rolling_frame(frame, windows, stream_column)
        if label is not None and label not in frame.columns:
            raise SchemaError(f"label column {label!r} is not in the data")
        unknown = [c for c in exclude if c not in frame.columns]
        if unknown:
            raise SchemaError(f"cannot exclude {unknown}: no such column(s)")
        features = []
        for name in frame.columns:
            if name == label or name in exclude:
                continue
            features.append(_infer_feature(name, frame[name], margin))
        return cls(tuple(features), _infer_label(frame, label, positive, label_kind),
                   windows=tuple(windows))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": self.version, "features": []}
        for f in self.features:
            if f.kind == "numeric":
                out["features"].append({"name": f.name, "kind": f.kind, "low": f.low,
                                        "high": f.high})
            else:
                out["features"].append({"name": f.name, "kind": f.kind,
                                        "categories": list(f.categories)})
        if self.label is not None:
            lab: dict[str, Any] = {"name": self.label.name, "kind": self.label.kind}
            if self.label.kind == "binary":
                lab["positive"] = self.label.positive
            else:
                lab.update(low=self.label.low, high=self.label.high)
            out["label"] = lab
        if self.windows:
            out["windows"] = [{"source": w.source, "size": w.size, "stats": list(w.stats)}
                              for w in self.windows]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        try:
            if data.get("version") != SCHEMA_VERSION:
                raise SchemaError(f"schema version {data.get('version')} is not supported")
            features = tuple(
                Feature(name=str(f["name"]), kind=f.get("kind", "numeric"),
                        low=float(f.get("low", 0.0)), high=float(f.get("high", 1.0)),
                        categories=tuple(str(c) for c in f.get("categories", ())))
                for f in data["features"]
            )
            lab = data.get("label")
            label = None if lab is None else Label(
                name=str(lab["name"]), kind=lab.get("kind", "binary"),
                positive=lab.get("positive", 1), low=float(lab.get("low", 0.0)),
                high=float(lab.get("high", 1.0)))
            windows = tuple(Window(w["source"], w["size"], w["stats"])
                            for w in data.get("windows", ()))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, SchemaError):
                raise
            raise SchemaError(f"malformed schema: {exc!r}") from exc
        return cls(features, label, windows=windows)

    def save(self, path: str | os.PathLike[str]) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Schema:
        return cls.from_dict(read_json(path, "schema"))


def _numeric(column: pd.Series, name: str) -> np.ndarray:
    try:
        x = np.asarray(pd.to_numeric(column, errors="raise").to_numpy(dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"column {name!r} has non-numeric values: {exc}") from exc
    if not np.all(np.isfinite(x)):
        raise SchemaError(f"column {name!r} has {int((~np.isfinite(x)).sum())} missing or "
                          "infinite value(s); clean or impute them before encrypting")
    return x


def _infer_feature(name: str, column: pd.Series, margin: float) -> Feature:
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        x = _numeric(column, name)
        if set(np.unique(x)) <= {0.0, 1.0}:  # a 0/1 indicator: [0, 1] shows nothing
            return Feature(name, "numeric", float(x.min()), float(x.max()))
        return Feature(name, "numeric", *_outward(float(x.min()), float(x.max()), margin))
    values = sorted(set(column.astype(str)))
    if len(values) > _MAX_CATEGORIES:
        raise SchemaError(f"column {name!r} is text with {len(values)} distinct values; "
                          "exclude it (identifiers are not features)")
    return Feature(name, "category", categories=tuple(values))


def _infer_label(frame: pd.DataFrame, label: str | None, positive: Any,
                 kind: Literal["binary", "continuous"] | None) -> Label | None:
    if label is None:
        return None
    column = frame[label]
    distinct = column.dropna().unique()
    if kind is None:
        kind = "binary" if len(distinct) <= 2 else "continuous"
    if kind == "binary":
        if len(distinct) > 2:
            raise SchemaError(f"label {label!r} has {len(distinct)} values, not 2")
        if positive is None:
            if len(distinct) < 2 and set(distinct) - {0, 1}:
                raise SchemaError(f"label {label!r} holds a single value here; name the "
                                  "positive class explicitly (positive=...)")
            # 1 is the positive class when present or when the only value is 0 (no failures
            # at this site yet); otherwise the larger of the two values
            positive = 1 if set(distinct) <= {0, 1} else sorted(distinct, key=str)[-1]
        if isinstance(positive, np.generic):
            positive = positive.item()
        return Label(label, "binary", positive=positive)
    y = _numeric(column, label)
    low, high = _outward(float(y.min()), float(y.max()), 0.0)
    return Label(label, "continuous", low=low, high=high)


def _outward(low: float, high: float, margin: float) -> tuple[float, float]:
    """[low, high] widened by `margin` of the span, then moved outward onto a grid of two
    significant digits of the span and at least half a grid step beyond the data: the schema
    travels in clear, so it must not carry exact extremes (with margin 0 it shows them to
    within 1.5 steps; a step is 1-10 % of the span)."""
    span = high - low
    if span <= 0:
        return low, high
    exponent = math.floor(math.log10(span)) - 1
    step = 10.0 ** exponent
    below = math.floor((low - margin * span) / step)
    above = math.ceil((high + margin * span) / step)
    below -= low - below * step < step / 2  # an extreme on the grid would show exactly
    above += above * step - high < step / 2
    digits = max(0, -exponent)
    return round(below * step, digits), round(above * step, digits)
