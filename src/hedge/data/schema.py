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
    """The target: binary (with the value that counts as positive, and the one that counts as
    negative) or continuous (with a range).

    A binary label's `negative` may be left out (None) when `positive` is 1: 0 is then the
    negative value (the 0/1 labels of most machine data). A schema that names neither a
    negative value nor the positive 1 (one written before the negative value was recorded)
    admits any single value besides the positive one."""

    name: str
    kind: Literal["binary", "continuous"] = "binary"
    positive: Any = 1
    low: float = 0.0
    high: float = 1.0
    negative: Any = None

    def __post_init__(self) -> None:
        if self.kind != "binary":
            return
        for role in ("positive", "negative"):
            value = getattr(self, role)
            if isinstance(value, np.generic):  # numpy's scalars, as JSON can hold them
                value = value.item()
                object.__setattr__(self, role, value)
            if value is None and role == "negative":
                continue  # see the class
            if not isinstance(value, str | int | float):
                raise SchemaError(f"label {self.name!r}: the {role} value must be a number or "
                                  f"a text, not {value!r}")
        if self.negative is not None and self.negative == self.positive:
            raise SchemaError(f"label {self.name!r}: the negative and the positive value are "
                              f"the same value {self.positive!r}; name two different values")

    def values(self) -> tuple[Any, Any] | None:
        """(negative, positive) of a binary label, or None when the schema does not say which
        value is negative (see the class)."""
        if self.negative is not None:
            return self.negative, self.positive
        if _is_one(self.positive):
            return 0, self.positive
        return None


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
        """Binary labels as 0/1, or continuous labels as given (finite floats). `SchemaError`
        naming the column, the values and their row count for missing labels, for binary
        labels that are neither of the label's two values (`Label`), and for continuous ones
        far outside the label's range."""
        if self.label is None:
            raise SchemaError("this schema has no label; add one to train or evaluate")
        self._require_columns(frame, [self.label.name])
        column = frame[self.label.name]
        missing = int(column.isna().sum())
        if missing:
            raise SchemaError(f"label {self.label.name!r} has missing values in {missing} of "
                              f"{len(column)} rows; label those rows or leave them out")
        if self.label.kind == "binary":
            return _binary(self.label, column)
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
                if self.label.negative is not None:
                    lab["negative"] = self.label.negative
            else:
                lab.update(low=self.label.low, high=self.label.high)
            out["label"] = lab
        if self.windows:
            out["windows"] = [{"source": w.source, "size": w.size, "stats": list(w.stats)}
                              for w in self.windows]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        """The schema `to_dict` wrote, every field of its exact JSON type (names and
        categories texts, ranges finite numbers, kinds one of the known ones): `SchemaError`
        naming the field otherwise."""
        if not isinstance(data, dict):
            raise SchemaError("malformed schema: not a JSON object")
        if data.get("version") != SCHEMA_VERSION:
            raise SchemaError(f"schema version {data.get('version')!r} is not supported")
        features = tuple(_feature(f, i) for i, f in enumerate(_list(data, "features", "schema")))
        lab = data.get("label")
        label = None
        if lab is not None:
            if not isinstance(lab, dict):
                raise SchemaError("malformed schema: 'label' must be an object")
            kind = lab.get("kind", "binary")
            if kind not in ("binary", "continuous"):
                raise SchemaError(f"malformed schema: label kind {kind!r} is not 'binary' or "
                                  "'continuous'")
            label = Label(name=_text(lab, "name", "label"), kind=kind,
                          positive=lab.get("positive", 1), low=_number(lab, "low", "label", 0.0),
                          high=_number(lab, "high", "label", 1.0), negative=lab.get("negative"))
        windows = []
        for i, w in enumerate(_list(data, "windows", "schema", default=[])):
            if not isinstance(w, dict) or set(w) != {"source", "size", "stats"}:
                raise SchemaError(f"malformed schema: window {i} must be an object of source, "
                                  "size and stats")
            windows.append(Window(w["source"], w["size"], w["stats"]))
        return cls(features, label, windows=tuple(windows))

    def save(self, path: str | os.PathLike[str]) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Schema:
        """The schema in a JSON file; `SchemaError` naming the file for anything else."""
        data = read_json(path, "schema")
        try:
            return cls.from_dict(data)
        except SchemaError as exc:
            raise SchemaError(f"{path}: {exc}") from exc


def _list(data: dict[str, Any], key: str, where: str, default: Any = None) -> list[Any]:
    value = data.get(key, default)
    if not isinstance(value, list):
        raise SchemaError(f"malformed schema: {where}'s {key!r} must be a list")
    return value


def _text(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise SchemaError(f"malformed schema: {where}'s {key!r} must be a non-empty text, not "
                          f"{value!r:.40}")
    return value


def _number(data: dict[str, Any], key: str, where: str, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SchemaError(f"malformed schema: {where}'s {key!r} must be a number, not "
                          f"{value!r:.40}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise SchemaError(f"malformed schema: {where}'s {key!r} must be a finite number")
    return number


def _feature(data: Any, index: int) -> Feature:
    """Feature `index` of a schema file, of exact types."""
    if not isinstance(data, dict):
        raise SchemaError(f"malformed schema: feature {index} must be an object")
    name = _text(data, "name", f"feature {index}")
    kind = data.get("kind", "numeric")
    if kind not in ("numeric", "category"):
        raise SchemaError(f"malformed schema: feature {name!r}: unknown kind {kind!r:.40}")
    categories = _list(data, "categories", f"feature {name!r}", default=[])
    if not all(isinstance(c, str) for c in categories):
        raise SchemaError(f"malformed schema: feature {name!r}: categories must be texts")
    return Feature(name=name, kind=kind, low=_number(data, "low", f"feature {name!r}", 0.0),
                   high=_number(data, "high", f"feature {name!r}", 1.0),
                   categories=tuple(categories))


def _is_one(value: Any) -> bool:
    """Whether a label value is the number 1 (True included; the text '1' is not)."""
    return isinstance(value, int | float) and value == 1


def _shown(values: Iterable[Any], limit: int = 5) -> str:
    """Distinct values as a short list for messages (each cut to 40 characters)."""
    texts = [repr(v.item() if isinstance(v, np.generic) else v) for v in values]
    texts = list(dict.fromkeys(t if len(t) <= 40 else t[:37] + "..." for t in texts))
    more = f", and {len(texts) - limit} more" if len(texts) > limit else ""
    return "[" + ", ".join(texts[:limit]) + more + "]"


def _matches(column: pd.Series, value: Any) -> np.ndarray:
    """Which entries of a label column are `value` (Python's equality: 1 is 1.0 and True,
    not the text '1')."""
    return np.asarray((column == value).to_numpy(dtype=bool))


def _binary(label: Label, column: pd.Series) -> np.ndarray:
    """Binary labels as 0/1: every value must be one of the label's two values."""
    positive = _matches(column, label.positive)
    values = label.values()
    if values is not None:
        negative = _matches(column, values[0])
        bad = ~(positive | negative)
        if bad.any():
            raise SchemaError(
                f"binary label {label.name!r}: {int(bad.sum())} of {len(column)} rows hold "
                f"{_shown(column[bad])}, neither {values[0]!r} nor {label.positive!r} (the "
                "label's two values); this is label drift: correct or leave out those rows, "
                "or give the schema's label the values the data uses")
        return positive.astype(np.float64)
    others = list(column[~positive])
    try:
        distinct = len(set(others))
    except TypeError:  # unhashable values (lists, mappings)
        distinct = len({repr(v) for v in others})
    if distinct > 1:
        raise SchemaError(
            f"binary label {label.name!r} has {distinct + bool(positive.any())} distinct "
            f"values ({_shown(column)}, positive {label.positive!r}); this is label drift: "
            "name the negative value in the schema's label (\"negative\") and correct or leave "
            "out the other rows")
    return positive.astype(np.float64)


def _numeric(column: pd.Series, name: str) -> np.ndarray:
    try:
        x = np.asarray(pd.to_numeric(column, errors="raise").to_numpy(dtype=np.float64))
    except (TypeError, ValueError, OverflowError) as exc:
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
        others = [v.item() if isinstance(v, np.generic) else v for v in distinct
                  if v != positive]
        if len(others) > 1:
            raise SchemaError(f"the positive value {positive!r} is not among the values "
                              f"{_shown(distinct)} of label {label!r}; name one of them")
        # the negative value is recorded unless it is the implied 0 of a positive 1
        negative = others[0] if others and not (_is_one(positive) and others[0] == 0) else None
        return Label(label, "binary", positive=positive, negative=negative)
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
