"""Encrypted training data of one or several sites, in the doubled-row layout.

Built at a site from its own rows (a DataFrame plus a schema, or arrays already scaled), with only
the consortium's public bundle. Two typed datasets share `EncryptedDataset`'s named encrypted
blocks:

* `ClassificationData` (`EncryptedDataset.encrypt`): each row becomes z_i = y'_i [1, x_i]
  (y' = +-1, bias first) and is encrypted twice: `doubled`, [z_i, z_i] rows (see
  `hedge.ml.layout`), for the dot products z_i . w; `preconditioned`, [P_s z_i, 0] rows, where
  P_s = (Z_s^T Z_s / 4 + ridge I)^-1 is the site's own fixed-Hessian preconditioner, computed in
  the clear from its own rows (nothing leaves the site); the cloud reweights each site's rows by
  n_s / n, which approximates the pooled preconditioner when sites hold similar data. With
  `class_weight="balanced"` (rare failures), row i also carries the weight
  c_i = n_s / (2 n_{s,class}) from the site's own class counts: the preconditioned rows become
  c_i P_s z_i with P_s built from the weighted Gram matrix Z^T C Z. With an L2 penalty, the
  penalty blocks below too. `statistics`: the site's `class_statistics`.
* `RegressionData` (`EncryptedDataset.encrypt_regression`): rows z_i = [1, x_i] without a sign,
  P_s the exact ridge Hessian inverse (Z_s^T Z_s + alpha D)^-1 (D: identity without the bias),
  and per site `solutions`: b_s = P_s Z_s^T y_s tiled like the weights (for one site, b_s *is*
  the ridge solution), and its penalty rows r_j = sqrt(alpha) e_j (j >= 1) as one doubled block
  (`penalty_doubled`) and one preconditioned block [P_s r_j, 0] (`penalty_preconditioned`), so
  that several sites can iterate towards the pooled ridge solution (`hedge.ml.ridge`).
  `statistics`: the moments [Z^T y, y . y] (for encrypted evaluation).

Every site also encrypts its (weighted) Gram matrix `gram`, an aggregate the cloud can add up
across sites for the owner to release (pooled preconditioning, statistics).

Plaintext metadata (what the cloud learns): row counts per site, column names, schema, class
weighting, layout. Everything else is encrypted. The file: `hedge.ml.dataset_file`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from hedge.ckks import EncryptedVector, PublicBundle
from hedge.data import Schema
from hedge.errors import CorruptDataError, ParameterError, SchemaError, ShapeError
from hedge.files import write_atomic
from hedge.ml.dataset_file import DATASET_FILE, read
from hedge.ml.layout import RowLayout
from hedge.ml.rows import (
    BIAS,
    checked_rows,
    class_statistics,
    class_statistics_length,
    penalty_rows,
    row_weights,
)

__all__ = ["BIAS", "ClassificationData", "EncryptedDataset", "RegressionData",
           "class_statistics", "class_statistics_length", "row_weights"]

Vectors = list[EncryptedVector]


def _penalty(name: str, value: float) -> None:
    if not (np.isfinite(value) and value >= 0):
        raise ParameterError(f"{name} must be a finite penalty, zero or more, not {value!r}")


@dataclass(kw_only=True)
class EncryptedDataset:
    """Encrypted design matrix blocks, per site in order, plus the encrypted Gram matrix (and
    statistics) of the same rows: the blocks a typed dataset (`ClassificationData`,
    `RegressionData`) shares. `task` names the type."""

    task: ClassVar[str]
    #: The per-site lists of blocks, by name (concatenated when sites are pooled).
    PER_SITE: ClassVar[tuple[str, ...]] = ("doubled", "preconditioned", "penalty_doubled",
                                           "penalty_preconditioned")

    bundle: PublicBundle
    layout: RowLayout
    columns: list[str]
    site_rows: list[int]
    doubled: Vectors
    preconditioned: Vectors
    gram: EncryptedVector
    penalty_doubled: Vectors = field(default_factory=list)  # one per site, if any
    penalty_preconditioned: Vectors = field(default_factory=list)
    statistics: EncryptedVector | None = None
    schema: dict[str, Any] | None = None

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

    def blocks(self) -> dict[str, Vectors]:
        """Every encrypted vector by the name of its role, in file order."""
        return {"doubled": self.doubled, "preconditioned": self.preconditioned,
                "gram": [self.gram], "penalty_doubled": self.penalty_doubled,
                "penalty_preconditioned": self.penalty_preconditioned,
                "statistics": [] if self.statistics is None else [self.statistics]}

    def plaintext(self) -> dict[str, Any]:
        """What the dataset holds in clear besides its row counts (pooled sites agree on it)."""
        return {"columns": self.columns, "schema": self.schema, "task": self.task,
                "penalties": bool(self.penalty_doubled)}

    @staticmethod
    def encrypt(bundle: PublicBundle, x: np.ndarray, y: np.ndarray, columns: Sequence[str], *,
                ridge: float = 1e-3, class_weight: str | None = None, l2: float = 0.0,
                class_counts: tuple[int, int] | None = None) -> ClassificationData:
        """Encrypt scaled features `x` (rows, d) in [-1, 1] and binary labels `y` (0/1).

        `l2` > 0 adds the penalty rows sqrt(l2) e_j (every column but the bias) as a doubled
        and a preconditioned block, for L2-regularised training. `ParameterError` if `ridge`
        or `l2` is negative or not finite."""
        _penalty("ridge", ridge)
        _penalty("l2", l2)
        x, y = checked_rows(x, y, columns)
        if not np.all((y == 0) | (y == 1)):
            raise SchemaError("labels must be 0 or 1")
        z = np.hstack([np.ones((x.shape[0], 1)), x]) * (2.0 * y - 1.0)[:, None]
        layout = RowLayout(z.shape[1], bundle.params.slot_count)
        weights = row_weights(y, class_weight, class_counts)
        gram = (z * weights[:, None]).T @ z
        penalty = l2 * np.eye(gram.shape[0])
        penalty[0, 0] = 0.0
        local = np.linalg.inv(gram / 4.0 + penalty + ridge * np.eye(gram.shape[0]))
        rows = penalty_rows(z.shape[1], l2)
        return ClassificationData(
            bundle=bundle, layout=layout, columns=[BIAS, *columns], site_rows=[z.shape[0]],
            doubled=[bundle.encrypt(v) for v in layout.pack_doubled(z)],
            preconditioned=[bundle.encrypt(v)
                            for v in layout.pack_first((z @ local) * weights[:, None])],
            gram=bundle.encrypt(gram.reshape(-1), check_range=False),
            class_weight=class_weight,
            statistics=bundle.encrypt(class_statistics(x, y), check_range=False),
            penalty_doubled=[bundle.encrypt(layout.pack_doubled(rows)[0])] if l2 > 0 else [],
            penalty_preconditioned=(
                [bundle.encrypt(layout.pack_first(rows @ local)[0])] if l2 > 0 else []))

    @staticmethod
    def encrypt_regression(bundle: PublicBundle, x: np.ndarray, y: np.ndarray,
                           columns: Sequence[str], *, alpha: float = 1.0) -> RegressionData:
        """Encrypt scaled features `x` and continuous targets `y` (scale them to about [-1, 1]).

        `statistics` holds the moments [Z^T y, y . y] (for encrypted evaluation).
        `ParameterError` if `alpha` is negative or not finite."""
        _penalty("alpha", alpha)
        x, y = checked_rows(x, y, columns)
        z = np.hstack([np.ones((x.shape[0], 1)), x])
        layout = RowLayout(z.shape[1], bundle.params.slot_count)
        penalty = alpha * np.eye(z.shape[1])
        penalty[0, 0] = 0.0  # the intercept is not penalised (as in scikit-learn's Ridge)
        gram = z.T @ z
        local = np.linalg.inv(gram + penalty + 1e-9 * np.eye(z.shape[1]))
        rows = penalty_rows(z.shape[1], alpha)
        return RegressionData(
            bundle=bundle, layout=layout, columns=[BIAS, *columns], site_rows=[z.shape[0]],
            doubled=[bundle.encrypt(v) for v in layout.pack_doubled(z)],
            preconditioned=[bundle.encrypt(v) for v in layout.pack_first(z @ local)],
            gram=bundle.encrypt(gram.reshape(-1), check_range=False),
            solutions=[bundle.encrypt(layout.tile(local @ (z.T @ y)))],
            penalty_doubled=[bundle.encrypt(layout.pack_doubled(rows)[0])],
            penalty_preconditioned=[bundle.encrypt(layout.pack_first(rows @ local)[0])],
            statistics=bundle.encrypt(np.concatenate([z.T @ y, [float(y @ y)]]),
                                      check_range=False))

    @staticmethod
    def from_frame(frame: pd.DataFrame, schema: Schema, bundle: PublicBundle, *,
                   class_weight: str | None = None, l2: float = 0.0,
                   class_counts: tuple[int, int] | None = None) -> EncryptedDataset:
        """Scale a site's rows with the consortium schema and encrypt them (a binary label:
        classification; a continuous one: regression on the label scaled to [-1, 1]).
        `ParameterError` if `l2` is negative or not finite, whatever the label."""
        _penalty("l2", l2)
        x, y = schema.features_matrix(frame), schema.label_vector(frame)
        label = schema.label
        data: EncryptedDataset
        if label is not None and label.kind == "continuous":
            span = (label.high - label.low) or 1.0
            data = EncryptedDataset.encrypt_regression(
                bundle, x, 2.0 * (y - label.low) / span - 1.0, schema.columns)
        else:
            data = EncryptedDataset.encrypt(bundle, x, y, schema.columns,
                                            class_weight=class_weight, l2=l2,
                                            class_counts=class_counts)
        data.schema = schema.to_dict()
        return data

    @staticmethod
    def concat(parts: Sequence[EncryptedDataset]) -> EncryptedDataset:
        """Pool several sites' datasets (same type, bundle, columns and schema) into one
        training set: the per-site blocks in order, the Gram matrices and statistics added."""
        if not parts:
            raise ShapeError("nothing to concatenate")
        head = parts[0]
        for other in parts[1:]:
            head.bundle.check_compatible(other.bundle)
            if (type(other) is not type(head) or other.layout != head.layout
                    or other.plaintext() != head.plaintext()):
                raise SchemaError("datasets have different columns or layouts; encrypt every "
                                  "site with the same schema and bundle")
        gram, stats = head.gram, head.statistics
        for other in parts[1:]:
            gram = gram + other.gram
            stats = None if stats is None or other.statistics is None else (
                stats + other.statistics)
        pooled: dict[str, Any] = {name: [v for p in parts for v in getattr(p, name)]
                                  for name in head.PER_SITE}
        return dataclasses.replace(head, site_rows=[n for p in parts for n in p.site_rows],
                                   gram=gram, statistics=stats, **pooled)

    # -- files (`hedge.ml.dataset_file`) ------------------------------------------------------

    def header(self) -> dict[str, Any]:
        """The file header: the plaintext metadata and how many vectors of each role follow."""
        return {"columns": self.columns, "site_rows": self.site_rows, "schema": self.schema,
                "task": self.task, "statistics": self.statistics is not None,
                "blocks": len(self.doubled), "penalties": len(self.penalty_doubled),
                "solutions": 0}

    def to_bytes(self) -> bytes:
        return DATASET_FILE.write(self.header(), self.blocks())

    def save(self, path: str | os.PathLike[str]) -> None:
        write_atomic(path, self.to_bytes())

    @staticmethod
    def from_bytes(data: bytes, bundle: PublicBundle) -> EncryptedDataset:
        """Parse and check a dataset upload (the header and vector counts:
        `hedge.ml.dataset_file.read`, then every vector's length against its role and the
        columns against the schema): `KeyMismatchError` if it was encrypted under another key
        set, `CorruptDataError` naming the field for anything malformed."""
        task, fields = read(data, bundle)
        dataset: EncryptedDataset = (RegressionData(**fields) if task == "regression"
                                     else ClassificationData(**fields))
        dataset.check_roles()
        return dataset

    @staticmethod
    def load(path: str | os.PathLike[str], bundle: PublicBundle) -> EncryptedDataset:
        return EncryptedDataset.from_bytes(Path(path).read_bytes(), bundle)

    def statistics_length(self) -> int:
        """The length of this type's `statistics` vector."""
        raise NotImplementedError

    def check_roles(self) -> None:
        """`CorruptDataError` unless every vector has the length its role implies (a crafted
        file cannot mix them up) and the columns are the schema's."""
        d, slots = len(self.columns), self.layout.slots
        full = [v for name, vectors in self.blocks().items() if name not in ("gram", "statistics")
                for v in vectors]
        if any(v.length != slots for v in full) or self.gram.length != d * d or (
                self.statistics is not None
                and self.statistics.length != self.statistics_length()):
            raise CorruptDataError("a dataset vector does not have the length of its role")
        if self.schema is not None:
            try:
                expected = Schema.from_dict(self.schema).columns
            except SchemaError as exc:
                raise CorruptDataError(f"dataset schema is malformed: {exc}") from exc
            if [BIAS, *expected] != self.columns:
                raise CorruptDataError("dataset columns do not match its schema")


@dataclass(kw_only=True)
class ClassificationData(EncryptedDataset):
    """Rows with a binary label (see the module doc); `class_weight` None or 'balanced' (in
    clear), `statistics` the sites' added `class_statistics`."""

    task: ClassVar[str] = "classification"

    class_weight: str | None = None

    def plaintext(self) -> dict[str, Any]:
        return {**super().plaintext(), "class_weight": self.class_weight}

    def header(self) -> dict[str, Any]:
        return {**super().header(), "class_weight": self.class_weight}

    def statistics_length(self) -> int:
        return class_statistics_length(self.features)


@dataclass(kw_only=True)
class RegressionData(EncryptedDataset):
    """Rows with a continuous label (see the module doc): also every site's encrypted ridge
    `solutions` (one per site); `statistics` the sites' added moments [Z^T y, y . y]."""

    task: ClassVar[str] = "regression"
    PER_SITE: ClassVar[tuple[str, ...]] = (*EncryptedDataset.PER_SITE, "solutions")

    solutions: Vectors

    def blocks(self) -> dict[str, Vectors]:
        return {**super().blocks(), "solutions": self.solutions}

    def header(self) -> dict[str, Any]:
        return {**super().header(), "solutions": len(self.solutions)}

    def statistics_length(self) -> int:
        return len(self.columns) + 1
