"""Encrypted training data of one or several sites, in the doubled-row layout.

Built at a site from its own rows (a DataFrame plus a schema, or arrays already scaled), with only
the consortium's public bundle. Each row becomes z_i = y'_i [1, x_i] (y' = +-1, bias first) and
is encrypted twice:

* `doubled`: [z_i, z_i] rows (see `hedge.ml.layout`), for the dot products z_i . w;
* `preconditioned`: [P_s z_i, 0] rows, where P_s = (Z_s^T Z_s / 4 + ridge I)^-1 is the site's own
  fixed-Hessian preconditioner, computed in the clear from its own rows (nothing leaves the site);
  the cloud reweights each site's rows by n_s / n, which approximates the pooled preconditioner
  when sites hold similar data.

With `class_weight="balanced"` (rare failures), row i also carries the weight
c_i = n_s / (2 n_{s,class}) from the site's own class counts: the preconditioned rows become
c_i P_s z_i with P_s built from the weighted Gram matrix Z^T C Z.

For regression (`encrypt_regression`), rows are z_i = [1, x_i] without a sign, P_s is the exact
ridge Hessian inverse (Z_s^T Z_s + alpha D)^-1 (D: identity without the bias), and the site also
encrypts `solutions`: b_s = P_s Z_s^T y_s tiled like the weights (for one site, b_s *is* the
ridge solution), and its penalty rows r_j = sqrt(alpha) e_j (j >= 1) as one doubled block
(`penalty_doubled`) and one preconditioned block [P_s r_j, 0] (`penalty_preconditioned`), so that
several sites can iterate towards the pooled ridge solution (`hedge.ml.ridge`). Classification
datasets carry penalty blocks too when encrypted with an L2 penalty.

The site also encrypts its (weighted) Gram matrix, an aggregate the cloud can add up across sites
for the owner to release (pooled preconditioning, statistics).

Plaintext metadata: row counts per site, column names, layout. Everything else is encrypted.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hedge.ckks import EncryptedVector, PublicBundle, container
from hedge.ckks.fields import Fields
from hedge.ckks.vector import iter_vectors
from hedge.data import Schema
from hedge.errors import (
    CorruptDataError,
    KeyMismatchError,
    ParameterError,
    SchemaError,
    ShapeError,
)
from hedge.files import write_atomic
from hedge.ml.artifact import ArtifactKind
from hedge.ml.layout import RowLayout

__all__ = ["BIAS", "EncryptedDataset", "class_statistics", "class_statistics_length",
           "row_weights"]

BIAS = "(bias)"
_TAG_VECTORS = 1


def _checked(x: Any, y: Any, columns: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.shape != (x.shape[0],) or x.shape[0] == 0:
        raise ShapeError(f"features {x.shape} and labels {y.shape} do not fit together")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise SchemaError("features or labels contain NaN or infinity")
    if len(columns) != x.shape[1]:
        raise ShapeError(f"{len(columns)} column names for {x.shape[1]} columns")
    return x, y


def _penalty_rows(columns: int, alpha: float) -> np.ndarray:
    """sqrt(alpha) e_j for every column but the bias: sum_j (r_j . w) r_j = alpha D w."""
    rows = np.sqrt(alpha) * np.eye(columns)
    return np.asarray(rows[1:])


def class_statistics_length(features: int) -> int:
    """The length of a `class_statistics` vector over `features` features."""
    return 2 * (1 + 2 * features)


def class_statistics(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per class (0, then 1): row count, per-feature sums, per-feature sums of squares
    (`class_statistics_length(features)` values).

    Computed by the site on its own rows and uploaded encrypted; the cloud adds the sites'
    vectors; the owner may release the pooled result (`hedge.owner.statistics`)."""
    parts = []
    for c in (0.0, 1.0):
        rows = x[y == c]
        parts += [np.array([float(len(rows))]), rows.sum(axis=0), (rows**2).sum(axis=0)]
    return np.concatenate(parts)


def row_weights(y: np.ndarray, class_weight: str | None,
                class_counts: tuple[int, int] | None = None) -> np.ndarray:
    """Per-row weights: ones, or 'balanced' (n / (2 n_class)) from these rows' own class
    counts, or from `class_counts` (negatives, positives) when given: an edge uploading in
    batches weights each batch by all the rows it has seen so far."""
    if class_weight is None:
        return np.ones(y.shape[0])
    if class_weight != "balanced":
        raise SchemaError(f"class_weight must be None or 'balanced', not {class_weight!r}")
    if class_counts is None:
        positives, total = float(y.sum()), float(y.size)
    else:
        positives, total = float(class_counts[1]), float(class_counts[0] + class_counts[1])
    if positives <= 0.0 or positives >= total:
        raise SchemaError("balanced class weights need both classes among the rows")
    return np.asarray(np.where(y == 1, total / (2 * positives),
                               total / (2 * (total - positives))))


@dataclass
class EncryptedDataset:
    """Encrypted design matrix blocks plus the encrypted Gram matrix of the same rows."""

    bundle: PublicBundle
    layout: RowLayout
    columns: list[str]
    site_rows: list[int]
    doubled: list[EncryptedVector]
    preconditioned: list[EncryptedVector]
    gram: EncryptedVector
    schema: dict[str, Any] | None = None
    class_weight: str | None = None
    task: str = "classification"
    solutions: list[EncryptedVector] = field(default_factory=list)  # regression, per site
    penalty_doubled: list[EncryptedVector] = field(default_factory=list)  # per site, if any
    penalty_preconditioned: list[EncryptedVector] = field(default_factory=list)
    statistics: EncryptedVector | None = None

    @property
    def rows(self) -> int:
        return sum(self.site_rows)

    @property
    def features(self) -> int:
        """The model columns of the schema the rows were encrypted with (`columns` without
        the intercept): what a training plan's `features` must be."""
        return len(self.columns) - 1

    def site_blocks(self) -> list[int]:
        """Number of ciphertext blocks of each site, in order."""
        return [self.layout.blocks(n) for n in self.site_rows]

    @classmethod
    def encrypt(cls, bundle: PublicBundle, x: np.ndarray, y: np.ndarray,
                columns: Sequence[str], *, ridge: float = 1e-3,
                class_weight: str | None = None, l2: float = 0.0,
                class_counts: tuple[int, int] | None = None) -> EncryptedDataset:
        """Encrypt scaled features `x` (rows, d) in [-1, 1] and binary labels `y` (0/1).

        `l2` > 0 adds the penalty rows sqrt(l2) e_j (every column but the bias) as a doubled
        and a preconditioned block, for L2-regularised training. `ParameterError` if `ridge`
        or `l2` is negative or not finite."""
        for name, value in (("ridge", ridge), ("l2", l2)):
            if not (np.isfinite(value) and value >= 0):
                raise ParameterError(f"{name} must be a finite penalty, zero or more, not "
                                     f"{value!r}")
        x, y = _checked(x, y, columns)
        if not np.all((y == 0) | (y == 1)):
            raise SchemaError("labels must be 0 or 1")
        z = np.hstack([np.ones((x.shape[0], 1)), x]) * (2.0 * y - 1.0)[:, None]
        layout = RowLayout(z.shape[1], bundle.params.slot_count)
        weights = row_weights(y, class_weight, class_counts)
        gram = (z * weights[:, None]).T @ z
        penalty = l2 * np.eye(gram.shape[0])
        penalty[0, 0] = 0.0
        local = np.linalg.inv(gram / 4.0 + penalty + ridge * np.eye(gram.shape[0]))
        rows = _penalty_rows(z.shape[1], l2)
        return cls(
            bundle=bundle,
            layout=layout,
            columns=[BIAS, *columns],
            site_rows=[z.shape[0]],
            doubled=[bundle.encrypt(v) for v in layout.pack_doubled(z)],
            preconditioned=[bundle.encrypt(v)
                            for v in layout.pack_first((z @ local) * weights[:, None])],
            gram=bundle.encrypt(gram.reshape(-1), check_range=False),
            class_weight=class_weight,
            statistics=bundle.encrypt(class_statistics(x, y), check_range=False),
            penalty_doubled=[bundle.encrypt(layout.pack_doubled(rows)[0])] if l2 > 0 else [],
            penalty_preconditioned=(
                [bundle.encrypt(layout.pack_first(rows @ local)[0])] if l2 > 0 else []),
        )

    @classmethod
    def encrypt_regression(cls, bundle: PublicBundle, x: np.ndarray, y: np.ndarray,
                           columns: Sequence[str], *, alpha: float = 1.0) -> EncryptedDataset:
        """Encrypt scaled features `x` and continuous targets `y` (scale them to about [-1, 1]).

        `statistics` holds the moments [Z^T y, y . y] (for encrypted evaluation).
        `ParameterError` if `alpha` is negative or not finite."""
        if not (np.isfinite(alpha) and alpha >= 0):
            raise ParameterError(f"alpha must be a finite penalty, zero or more, not {alpha!r}")
        x, y = _checked(x, y, columns)
        z = np.hstack([np.ones((x.shape[0], 1)), x])
        layout = RowLayout(z.shape[1], bundle.params.slot_count)
        penalty = alpha * np.eye(z.shape[1])
        penalty[0, 0] = 0.0  # the intercept is not penalised (as in scikit-learn's Ridge)
        gram = z.T @ z
        local = np.linalg.inv(gram + penalty + 1e-9 * np.eye(z.shape[1]))
        rows = _penalty_rows(z.shape[1], alpha)
        return cls(
            bundle=bundle, layout=layout, columns=[BIAS, *columns], site_rows=[z.shape[0]],
            doubled=[bundle.encrypt(v) for v in layout.pack_doubled(z)],
            preconditioned=[bundle.encrypt(v) for v in layout.pack_first(z @ local)],
            gram=bundle.encrypt(gram.reshape(-1), check_range=False),
            task="regression",
            solutions=[bundle.encrypt(layout.tile(local @ (z.T @ y)))],
            penalty_doubled=[bundle.encrypt(layout.pack_doubled(rows)[0])],
            penalty_preconditioned=[bundle.encrypt(layout.pack_first(rows @ local)[0])],
            statistics=bundle.encrypt(np.concatenate([z.T @ y, [float(y @ y)]]),
                                      check_range=False),
        )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, schema: Schema, bundle: PublicBundle, *,
                   class_weight: str | None = None, l2: float = 0.0,
                   class_counts: tuple[int, int] | None = None) -> EncryptedDataset:
        """Scale a site's rows with the consortium schema and encrypt them (a binary label:
        classification; a continuous one: regression on the label scaled to [-1, 1]).
        `ParameterError` if `l2` is negative or not finite, whatever the label."""
        if not (np.isfinite(l2) and l2 >= 0):
            raise ParameterError(f"l2 must be a finite penalty, zero or more, not {l2!r}")
        x, y = schema.features_matrix(frame), schema.label_vector(frame)
        label = schema.label
        if label is not None and label.kind == "continuous":
            span = (label.high - label.low) or 1.0
            data = cls.encrypt_regression(bundle, x, 2.0 * (y - label.low) / span - 1.0,
                                          schema.columns)
        else:
            data = cls.encrypt(bundle, x, y, schema.columns, class_weight=class_weight, l2=l2,
                               class_counts=class_counts)
        data.schema = schema.to_dict()
        return data

    @classmethod
    def concat(cls, parts: Sequence[EncryptedDataset]) -> EncryptedDataset:
        """Pool several sites' datasets (same bundle, same columns) into one training set."""
        if not parts:
            raise ShapeError("nothing to concatenate")
        head = parts[0]
        for other in parts[1:]:
            head.bundle.check_compatible(other.bundle)
            if (other.columns != head.columns or other.layout != head.layout
                    or other.schema != head.schema or other.class_weight != head.class_weight
                    or other.task != head.task
                    or bool(other.penalty_doubled) != bool(head.penalty_doubled)):
                raise SchemaError("datasets have different columns or layouts; encrypt every "
                                  "site with the same schema and bundle")
        gram = parts[0].gram
        for other in parts[1:]:
            gram = gram + other.gram
        stats = parts[0].statistics
        for other in parts[1:]:
            stats = None if stats is None or other.statistics is None else (
                stats + other.statistics)
        return cls(head.bundle, head.layout, head.columns,
                   [n for p in parts for n in p.site_rows],
                   [v for p in parts for v in p.doubled],
                   [v for p in parts for v in p.preconditioned], gram, head.schema,
                   head.class_weight, head.task, [v for p in parts for v in p.solutions],
                   [v for p in parts for v in p.penalty_doubled],
                   [v for p in parts for v in p.penalty_preconditioned], stats)

    # -- files -------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        extra = [] if self.statistics is None else [self.statistics]
        for v in (*self.doubled, *self.preconditioned, self.gram, *self.solutions,
                  *self.penalty_doubled, *self.penalty_preconditioned, *extra):
            v.write(buf)
        header = {"columns": self.columns, "site_rows": self.site_rows, "schema": self.schema,
                  "class_weight": self.class_weight, "task": self.task,
                  "statistics": self.statistics is not None,
                  "solutions": len(self.solutions), "penalties": len(self.penalty_doubled),
                  "blocks": len(self.doubled),
                  "param_id": self.bundle.params.param_id,
                  "fingerprint": self.bundle.fingerprint}
        return container.to_bytes(ArtifactKind.DATASET, header,
                                  [(_TAG_VECTORS, buf.getvalue())])

    def save(self, path: str | os.PathLike[str]) -> None:
        write_atomic(path, self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes, bundle: PublicBundle) -> EncryptedDataset:
        """Parse and check a dataset upload: `KeyMismatchError` if it was encrypted under
        another key set, `CorruptDataError` naming the field for anything malformed.

        The header is checked before any ciphertext is parsed, each field with its exact JSON
        type: `columns` 1 to slots / 2 distinct non-empty names (at most 1024 characters),
        the bias column first; `site_rows` 1 to `blocks` row counts, each in [1, 2^32];
        `blocks`, `solutions` and `penalties` integers; `statistics` a boolean; `task`,
        `class_weight` and `schema` as `to_bytes` writes them. The declared rows must take
        exactly the declared blocks (one site of n rows: `layout.blocks(n)`; several: the sum
        over the sites, each at least one block), and the file must hold exactly the vectors
        the header implies, each of the length of its role (`_check_roles`)."""
        max_rows = 1 << 32
        header, records = container.from_bytes(data, ArtifactKind.DATASET)
        fields = Fields(header.fields, "dataset header")
        fingerprint = fields.string("fingerprint", max_length=64)
        param_id = fields.string("param_id", bundle.params.param_id, max_length=64)
        if fingerprint != bundle.fingerprint or param_id != bundle.params.param_id:
            raise KeyMismatchError("this dataset was encrypted under another key set; use the "
                                   "consortium's bundle it was made with")
        slots = bundle.params.slot_count
        columns = fields.strings("columns", min_items=2, max_items=slots // 2, max_length=1024,
                                 distinct=True)
        if columns[0] != BIAS:
            raise fields.fail("columns", f"a list of column names starting with {BIAS!r}")
        layout = RowLayout(len(columns), slots)
        blocks = fields.integer("blocks", 1, container.MAX_LENGTH)
        site_rows = fields.integers("site_rows", 1, max_rows, min_items=1, max_items=1 << 20)
        sites = len(site_rows)
        task = fields.string("task", "classification", choices=("classification", "regression"))
        solutions = fields.integer("solutions", 0, sites, 0)
        penalties = fields.integer("penalties", 0, sites, 0)
        if solutions not in (0, sites) or (task == "regression") != (solutions == sites):
            raise fields.fail("solutions", f"{sites} (one per site) for regression, else 0")
        if penalties not in (0, sites) or (task == "regression" and penalties != sites):
            raise fields.fail("penalties", f"{sites} (one per site), or 0 for classification "
                                           "without an L2 penalty")
        stats = 1 if fields.boolean("statistics", False) else 0
        schema = fields.optional_object("schema")
        weight = fields.string("class_weight", None, choices=(None, "balanced"))
        if sum(layout.blocks(n) for n in site_rows) != blocks:
            raise fields.fail("site_rows", f"row counts that take {blocks} block(s) of "
                                           f"{layout.rows_per_block} rows (the 'blocks' field)")
        if len(records) != 1 or records[0][0] != _TAG_VECTORS:
            raise CorruptDataError("dataset does not hold exactly one vector record")
        expected = 2 * blocks + 1 + solutions + 2 * penalties + stats
        vectors: list[EncryptedVector] = []
        for vector in iter_vectors(io.BytesIO(records[0][1]), bundle):
            vectors.append(vector)
            if len(vectors) > expected:  # refused before parsing the rest
                raise CorruptDataError(f"the dataset holds more than the {expected} vectors "
                                       "its header declares (fields 'blocks', 'solutions', "
                                       "'penalties' and 'statistics')")
        if len(vectors) != expected:
            raise CorruptDataError(f"the dataset holds {len(vectors)} vectors, its header "
                                   f"declares {expected} (fields 'blocks', 'solutions', "
                                   "'penalties' and 'statistics')")
        rest = iter(vectors[2 * blocks + 1:])
        dataset = cls(bundle, layout, columns, site_rows, vectors[:blocks],
                      vectors[blocks:2 * blocks], vectors[2 * blocks], schema, weight, task,
                      [next(rest) for _ in range(solutions)],
                      [next(rest) for _ in range(penalties)],
                      [next(rest) for _ in range(penalties)],
                      next(rest) if stats else None)
        dataset._check_roles()
        return dataset

    def _check_roles(self) -> None:
        """Every vector has the length its role implies (a crafted file cannot mix them up)."""
        d, slots = len(self.columns), self.layout.slots
        full = [*self.doubled, *self.preconditioned, *self.solutions, *self.penalty_doubled,
                *self.penalty_preconditioned]
        stats_length = d + 1 if self.task == "regression" else class_statistics_length(d - 1)
        wrong = [v for v in full if v.length != slots]
        if wrong or self.gram.length != d * d or (
                self.statistics is not None and self.statistics.length != stats_length):
            raise CorruptDataError("a dataset vector does not have the length of its role")
        if self.schema is not None:
            try:
                expected = Schema.from_dict(self.schema).columns
            except SchemaError as exc:
                raise CorruptDataError(f"dataset schema is malformed: {exc}") from exc
            if [BIAS, *expected] != self.columns:
                raise CorruptDataError("dataset columns do not match its schema")

    @classmethod
    def load(cls, path: str | os.PathLike[str], bundle: PublicBundle) -> EncryptedDataset:
        return cls.from_bytes(Path(path).read_bytes(), bundle)
