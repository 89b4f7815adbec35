"""Segments: the result of federated k-means as the owner keeps and shares it (segments.json).

Centroids are stored in original units (the schema's ranges undone) and in the scaled units the
protocol works in; with the schema, so that records can be assigned later. Only numeric features
take part: a centroid of one-hot categories would not be a category.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hedge.ckks.fields import Fields
from hedge.data import Schema
from hedge.errors import SchemaError
from hedge.files import read_json, write_json
from hedge.segmentation.run import KMeansResult

__all__ = ["HR_PROFILE_FEATURES", "Segments", "numeric_schema", "to_original", "to_scaled"]

#: The IBM HR data's numeric profile columns used for workforce segmentation: age, career
#: (job level, income, total and per-employer years, companies, promotions, manager tenure),
#: education, commute, raise, training. Left out: identifiers and constants (EmployeeNumber,
#: EmployeeCount, StandardHours, Over18), the outcome (Attrition), the arbitrary rate columns
#: (DailyRate, HourlyRate, MonthlyRate), categories, and 1-4 survey scores (satisfaction,
#: involvement, rating), which describe attitudes rather than profiles.
HR_PROFILE_FEATURES = [
    "Age", "DistanceFromHome", "Education", "JobLevel", "MonthlyIncome", "NumCompaniesWorked",
    "PercentSalaryHike", "TotalWorkingYears", "TrainingTimesLastYear", "YearsAtCompany",
    "YearsInCurrentRole", "YearsSinceLastPromotion", "YearsWithCurrManager",
]


def numeric_schema(schema: Schema) -> Schema:
    """`schema` itself if all its features are numeric, else `SchemaError`."""
    categorical = [f.name for f in schema.features if f.kind != "numeric"]
    if categorical:
        raise SchemaError(f"segmentation takes numeric features only; drop {categorical} from "
                          "the schema (hedge schema infer --exclude ...)")
    if not schema.features:
        raise SchemaError("the schema has no features")
    return schema


def _ranges(schema: Schema) -> tuple[np.ndarray, np.ndarray]:
    low = np.array([f.low for f in schema.features])
    return low, np.array([f.high for f in schema.features]) - low


def to_original(schema: Schema, scaled: np.ndarray) -> np.ndarray:
    low, span = _ranges(schema)
    return np.asarray(low + (np.asarray(scaled) + 1.0) / 2.0 * span)


def to_scaled(schema: Schema, frame: pd.DataFrame) -> np.ndarray:
    """Rows in original units (a frame with the schema's columns) scaled into [-1, 1]."""
    return numeric_schema(schema).features_matrix(frame)


@dataclass
class Segments:
    features: list[str]
    schema: dict[str, Any]
    centroids: np.ndarray  # original units, (k, d)
    scaled: np.ndarray  # scaled units, (k, d)
    sizes: np.ndarray
    inertia: float
    rounds: int
    converged: bool
    seed: int
    history: list[dict[str, Any]]

    @classmethod
    def from_result(cls, result: KMeansResult, schema: Schema) -> Segments:
        history = [{"round": r.round, "sites": r.sites, "rejected": r.rejected,
                    "changed": r.changed, "shift": r.shift, "inertia": r.inertia,
                    "upload_bytes": r.upload_bytes}
                   for r in result.history]
        return cls(schema.columns, schema.to_dict(), to_original(schema, result.centroids),
                   result.centroids, result.sizes, result.inertia, result.rounds,
                   result.converged, result.seed, history)

    @property
    def k(self) -> int:
        return len(self.centroids)

    def to_schema(self) -> Schema:
        return numeric_schema(Schema.from_dict(self.schema))

    def save(self, path: str | os.PathLike[str]) -> None:
        write_json(path, {
            "version": 1, "k": self.k, "features": self.features, "schema": self.schema,
            "centroids": self.centroids.tolist(), "centroids_scaled": self.scaled.tolist(),
            "sizes": [int(s) for s in self.sizes], "inertia": self.inertia,
            "rounds": self.rounds, "converged": self.converged, "seed": self.seed,
            "history": self.history})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Segments:
        """A segments file `save` wrote, checked field by field with exact JSON types
        (`version` 1, `features` distinct names, `centroids` and `centroids_scaled` k rows of
        one finite number per feature, `sizes` k non-negative numbers, `schema` whose numeric
        features are `features`); `SchemaError` naming the file and the field if not."""
        body = read_json(path, "hedge segments")
        f = Fields(body, f"{path} (hedge segments)", SchemaError)
        if body.get("version") != 1 or type(body.get("version")) is not int:
            raise SchemaError(f"{path} is not a hedge segments file (version)")
        features = f.strings("features", min_items=1, max_items=1 << 16, max_length=1024,
                             distinct=True)
        d = len(features)
        history = body.get("history", [])
        if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
            raise f.fail("history", "a list of objects, one per round")
        centroids = f.number_rows("centroids", max_rows=1 << 16, items=(d, d))
        k = len(centroids)
        segments = cls(features, f.nested("schema").fields,
                       np.asarray(centroids, dtype=np.float64),
                       np.asarray(f.number_rows("centroids_scaled", min_rows=k, max_rows=k,
                                                items=(d, d)), dtype=np.float64),
                       np.asarray(f.numbers("sizes", min_items=k, max_items=k)),
                       f.number("inertia", 0.0, math.inf), f.integer("rounds", 0, 1 << 40),
                       f.boolean("converged"), f.integer("seed", -(1 << 63), 1 << 64),
                       history)
        if np.any(segments.sizes < 0) or np.any(np.abs(segments.scaled) > 1.0 + 1e-9):
            raise SchemaError(f"{path}: negative sizes, or centroids outside the scaled range")
        try:
            schema = segments.to_schema()
        except SchemaError as exc:
            raise SchemaError(f"{path}: the schema is malformed: {exc}") from exc
        if schema.columns != segments.features:
            raise SchemaError(f"{path}: the schema does not match the features")
        if not np.allclose(to_original(schema, segments.scaled), segments.centroids,
                           rtol=1e-9, atol=1e-9):
            raise SchemaError(f"{path}: centroids and scaled centroids disagree; was the file "
                              "edited? Re-run `hedge segment run`")
        return segments
