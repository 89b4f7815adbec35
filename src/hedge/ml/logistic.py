"""Logistic regression trained on ciphertexts: fixed-Hessian gradient steps.

Update (ascent on the log-likelihood, z_i = y'_i [1, x_i]):

    w <- w + lr * P * sum_i g(-z_i . w) z_i,      P = (Z^T Z / 4 + ridge I)^-1

with g the polynomial sigmoid and P the inverse of the Böhning bound of the Hessian, folded into
the gradient-side rows so that every iteration is a plain gradient step. Two sources for P:

* local (default): every site encrypted [P_s z_i, 0] with its own P_s (see `EncryptedDataset`);
  the cloud weights site s by n_s / n. Exact for one site; nothing is released.
* pooled: P from the pooled Gram matrix that the owner released; the cloud applies it to the
  doubled rows itself (`precondition`). The cloud then knows P, hence the pooled second moments.

Depth: 1 to weight (or precondition) the rows, 1 for the first iteration (w = 0, where the
sigmoid is exactly 1/2), 4 per further iteration (dot products 1, degree-3 sigmoid 2, gradient
rows 1), 1 to cut the model out of the layout. `reference_fit` runs the same arithmetic in numpy;
the encrypted result equals it up to CKKS noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hedge.ckks import CkksPool, EncryptedVector, polyval_depth
from hedge.ckks.ray_pool import RayPool
from hedge.errors import DepthExhaustedError, ParameterError, SchemaError, ShapeError
from hedge.ml._blocks import (
    column_sums,
    penalty_weighted,
    row_product,
    row_sums,
    site_weighted,
)
from hedge.ml.dataset import ClassificationData, EncryptedDataset
from hedge.ml.layout import RowLayout
from hedge.ml.model import EncryptedLinearModel
from hedge.ml.sigmoid import sigmoid_polynomial

__all__ = ["EncryptedLogisticRegression", "preconditioner", "reference_fit",
           "reference_fit_sites"]


def preconditioner(gram: np.ndarray, ridge: float = 1e-3) -> np.ndarray:
    """P = (gram / 4 + ridge I)^-1 from the (released) Gram matrix Z^T Z."""
    g = np.asarray(gram, dtype=np.float64)
    if g.ndim != 2 or g.shape[0] != g.shape[1]:
        raise ShapeError(f"the Gram matrix must be square, got {g.shape}")
    return np.asarray(np.linalg.inv(g / 4.0 + ridge * np.eye(g.shape[0])))


def reference_fit(z: np.ndarray, p: np.ndarray, iterations: int, learning_rate: float,
                  coeffs: np.ndarray) -> np.ndarray:
    """The plaintext twin of `EncryptedLogisticRegression.fit` (same steps, same polynomial).

    `p`: the (pooled) preconditioner."""
    return _reference(z, z @ p, iterations, learning_rate, coeffs)


def reference_fit_sites(zs: list[np.ndarray], iterations: int, learning_rate: float,
                        coeffs: np.ndarray, ridge: float = 1e-3,
                        weights: list[np.ndarray] | None = None, l2: float = 0.0) -> np.ndarray:
    """Plaintext twin of local preconditioning: site s contributes (n_s / n) C_s Z_s P_s, and
    with `l2` the penalty -(n_s / n)^2 P_s l2 D w."""
    n = sum(len(z) for z in zs)
    d = zs[0].shape[1]
    cs = weights or [np.ones(len(z)) for z in zs]
    penalty = l2 * np.eye(d)
    penalty[0, 0] = 0.0
    ps = [np.linalg.inv((z * c[:, None]).T @ z / 4.0 + penalty + ridge * np.eye(d))
          for z, c in zip(zs, cs, strict=True)]
    zp = [len(z) / n * (z @ p) * c[:, None] for z, c, p in zip(zs, cs, ps, strict=True)]
    shrink = sum((len(z) / n) ** 2 * (p @ penalty) for z, p in zip(zs, ps, strict=True))
    return _reference(np.vstack(zs), np.vstack(zp), iterations, learning_rate, coeffs,
                      np.asarray(shrink))


def _reference(z: np.ndarray, zp: np.ndarray, iterations: int, learning_rate: float,
               coeffs: np.ndarray, shrink: np.ndarray | None = None) -> np.ndarray:
    w = learning_rate * coeffs[0] * zp.sum(axis=0)
    for _ in range(iterations - 1):
        step = learning_rate * (np.polynomial.polynomial.polyval(-(z @ w), coeffs) @ zp)
        w = w + step - (0.0 if shrink is None else shrink @ w)
    return np.asarray(w)


@dataclass
class EncryptedLogisticRegression:
    """sklearn-style estimator: `fit(dataset, preconditioner)` needs only the public bundle."""

    iterations: int = 2
    learning_rate: float = 1.0
    degree: int = 3
    bound: float = 6.0
    coeffs: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if isinstance(self.iterations, bool) or not isinstance(self.iterations, int) or (
                self.iterations < 1):
            raise ParameterError(f"iterations must be a positive integer, not "
                                 f"{self.iterations!r}")
        self.coeffs = sigmoid_polynomial(self.degree, self.bound)

    def get_params(self) -> dict[str, float]:
        return {"iterations": self.iterations, "learning_rate": self.learning_rate,
                "degree": self.degree, "bound": self.bound}

    @property
    def iteration_depth(self) -> int:
        """Levels one iteration after the first consumes."""
        return 2 + polyval_depth(list(self.coeffs))

    def required_depth(self) -> int:
        """Levels the whole training needs without refresh (weighting, first step, cut)."""
        return 3 + self.iteration_depth * (self.iterations - 1)

    def weights_level(self, top: int, *, refreshed: bool) -> int:
        """The level `fit` leaves the model's weights at, for data at level `top` (fresh
        uploads: the preset's depth), with or without refreshes: what the owner expects of a
        result before releasing it (a vector computed otherwise, e.g. cut from an upload, sits
        elsewhere). The same schedule as `fit`: weighting and the first step take 2 levels,
        every further iteration `iteration_depth` (after a refresh to `top` whenever fewer
        than `iteration_depth + 1` are left), the cut 1."""
        level = top - 2
        for _ in range(self.iterations - 1):
            if refreshed and level < self.iteration_depth + 1:
                level = top
            level -= self.iteration_depth
        return level - 1

    def fit(self, data: EncryptedDataset, preconditioner: np.ndarray | None = None, *,
            refresh: Callable[[EncryptedVector], EncryptedVector] | None = None,
            progress: Callable[[int], None] | None = None,
            pool: CkksPool | RayPool | None = None,
            checkpoint: Callable[[int, EncryptedVector], None] | None = None,
            resume: tuple[int, EncryptedVector] | None = None) -> EncryptedLinearModel:
        """Train on the pooled encrypted data. Without `preconditioner`, each site's own (local
        preconditioning); with one (released pooled P), the cloud applies it.

        `refresh` (owner-assisted mode) brings the weights back to the top level whenever the
        next iteration would not fit (see `hedge.ml.refresh.refresh_tiled`); `progress` is
        called with the number of finished iterations; with `pool`, the per-block work of every
        iteration runs in its worker processes (same result). `checkpoint` receives the number
        of finished iterations and the encrypted tiled weights after each; `resume` continues
        from such a pair (same data, same estimator), giving the same model."""
        if not isinstance(data, ClassificationData):
            raise SchemaError("logistic regression needs a classification dataset (a binary "
                              "label); use EncryptedRidge for a continuous one")
        available = min(v.level for v in (*data.doubled, *data.preconditioned))
        needed = self.required_depth() if refresh is None else min(
            self.required_depth(), 3 + self.iteration_depth)
        if needed > available:
            raise DepthExhaustedError(f"{self.iterations} fixed-Hessian iterations", needed,
                                      available)
        if preconditioner is None:
            rows = site_weighted(data)
        else:
            if data.class_weight is not None:
                raise SchemaError("pooled preconditioning does not apply class weights; train "
                                  "class-weighted data with the sites' own preconditioners")
            p = np.asarray(preconditioner, dtype=np.float64)
            if p.shape != (len(data.columns), len(data.columns)):
                raise ShapeError(
                    f"preconditioner must be {len(data.columns)} square, got {p.shape}")
            rows = precondition(data, p)
        if resume is None:
            first, w = 1, column_sums(data.layout, rows).scaled_to(
                self.learning_rate * self.coeffs[0], rows[0].level - 1)
        else:
            first, w = resume
            if not 1 <= first <= self.iterations or w.length != data.layout.slots:
                raise ShapeError(f"cannot resume from iteration {first} with weights of length "
                                 f"{w.length}")
        # g(-t) with the learning rate folded in: coefficients of t^k change sign for odd k
        g = [self.learning_rate * c * (-1) ** k for k, c in enumerate(self.coeffs)]
        penalties = penalty_weighted(data)  # constant over the iterations: weight them once
        if progress:
            progress(first)
        if checkpoint and resume is None:
            checkpoint(1, w)
        for done in range(first + 1, self.iterations + 1):
            if refresh is not None and w.level < self.iteration_depth + 1:
                w = refresh(w)
            if pool is None:
                terms = [block_gradient(zd, zp, w, g, data.layout.columns)
                         for zd, zp in zip(data.doubled, rows, strict=True)]
            else:
                terms = pool.map(block_gradient, list(zip(data.doubled, rows, strict=True)), w, g,
                                 data.layout.columns)
            if data.penalty_doubled:  # L2 penalty rows, on the same iterate: -(n_s/n)^2 P_s l2 D w
                terms += [-(row_sums(data.layout, rd * w) * rq)
                          for rd, rq in zip(data.penalty_doubled, penalties, strict=True)]
            w = w + column_sums(data.layout, terms)
            if progress:
                progress(done)
            if checkpoint:
                checkpoint(done, w)
        return EncryptedLinearModel(w.head(len(data.columns)), data.layout, data.columns,
                                      data.schema, tiled=w)


def block_gradient(zd: EncryptedVector, zp: EncryptedVector, w: EncryptedVector,
                   g: list[float], columns: int) -> EncryptedVector:
    """One block's contribution g(z_i . w) (P z_i), before the sum over rows (module-level so
    that worker processes can run it)."""
    layout = RowLayout(columns, zd.bundle.params.slot_count)
    return row_sums(layout, zd * w).polyval(g) * zp


def precondition(data: EncryptedDataset, p: np.ndarray) -> list[EncryptedVector]:
    """Rows [P z_i, 0] from [z_i, z_i] (P symmetric): depth 1, see `row_product`."""
    return [row_product(data.layout, zd, p) for zd in data.doubled]
