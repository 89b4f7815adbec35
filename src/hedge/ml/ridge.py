"""Ridge regression trained on ciphertexts (remaining useful life and other continuous targets).

For least squares the fixed-Hessian bound is exact: H = Z^T Z + alpha D. Every site encrypted
b_s = P_s Z_s^T y_s with P_s = H_s^-1, and its penalty rows r_j = sqrt(alpha) e_j (see
`EncryptedDataset.encrypt_regression`), so

* one site: w = b_s is the ridge solution; training is a relabelling, no ciphertext arithmetic;
* several sites: a preconditioned Richardson iteration on the pooled normal equations,
  w <- w + B - sum_i (z_i . w) q_i - sum_s (n_s / n)^2 sum_j (r_j . w) P_s r_j,
  with B = sum_s (n_s / n) b_s and q_i = (n_s / n) P_s z_i. Its fixed point is the pooled ridge
  solution (Z^T Z + alpha D) w = Z^T y whenever the sites' P_s are proportional to a common
  matrix (sites holding similar data); 2 levels per iteration.

Depth: 1 (site weights) + 2 per further iteration + 1 (cut the model out of the layout).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hedge.errors import DepthExhaustedError, ParameterError, SchemaError
from hedge.ml._blocks import add_all, column_sums, penalty_weighted, row_sums, site_weighted
from hedge.ml.dataset import EncryptedDataset, RegressionData
from hedge.ml.model import EncryptedLinearModel

__all__ = ["EncryptedRidge", "reference_ridge_sites"]


@dataclass
class EncryptedRidge:
    """sklearn-style estimator; the penalty `alpha` is fixed when the sites encrypt."""

    iterations: int = 3

    def __post_init__(self) -> None:
        if isinstance(self.iterations, bool) or not isinstance(self.iterations, int) or (
                self.iterations < 1):
            raise ParameterError(f"iterations must be a positive integer, not "
                                 f"{self.iterations!r}")

    def get_params(self) -> dict[str, int]:
        return {"iterations": self.iterations}

    def required_depth(self) -> int:
        return 2 + 2 * (self.iterations - 1)

    def weights_level(self, top: int, parts: int) -> int:
        """The level `fit` leaves the model's weights at, for data of `parts` uploads (sites)
        at level `top`: one part's own solution cut out (1 level), or the site weights (1),
        2 per further iteration and the cut (1)."""
        return top - 1 if parts == 1 else top - 2 * self.iterations

    def fit(self, data: EncryptedDataset,
            progress: Callable[[int], None] | None = None) -> EncryptedLinearModel:
        if not isinstance(data, RegressionData):
            raise SchemaError("EncryptedRidge needs a regression dataset (a continuous label)")
        if len(data.site_rows) == 1:
            w = data.solutions[0]
        else:
            available = data.doubled[0].level
            if self.required_depth() > available:
                raise DepthExhaustedError(f"{self.iterations} ridge iterations",
                                          self.required_depth(), available)
            n = data.rows
            shares = [m / n for m in data.site_rows]
            doubled = list(data.doubled) + data.penalty_doubled
            rows = site_weighted(data) + penalty_weighted(data)
            constant = add_all([b.scaled_to(share, b.level - 1)
                                for b, share in zip(data.solutions, shares, strict=True)])
            w = constant
            for done in range(2, self.iterations + 1):
                terms = [row_sums(data.layout, zd * w) * q
                         for zd, q in zip(doubled, rows, strict=True)]
                w = w + constant - column_sums(data.layout, terms)
                if progress:
                    progress(done)
        if progress:
            progress(self.iterations)
        return EncryptedLinearModel(w.head(len(data.columns)), data.layout, data.columns,
                                      data.schema, kind="ridge")


def reference_ridge_sites(zs: list[np.ndarray], ys: list[np.ndarray], alpha: float,
                          iterations: int) -> np.ndarray:
    """The plaintext twin of `EncryptedRidge.fit`."""
    n = sum(len(z) for z in zs)
    d = zs[0].shape[1]
    penalty = alpha * np.eye(d)
    penalty[0, 0] = 0.0
    ps = [np.linalg.inv(z.T @ z + penalty + 1e-9 * np.eye(d)) for z in zs]
    bs = [p @ (z.T @ y) for p, z, y in zip(ps, zs, ys, strict=True)]
    if len(zs) == 1:
        return np.asarray(bs[0])
    shares = [len(z) / n for z in zs]
    constant = sum(s * b for s, b in zip(shares, bs, strict=True))
    w = np.asarray(constant)
    for _ in range(iterations - 1):
        step = sum(s * p @ (z.T @ (z @ w)) + s * s * p @ (penalty @ w)
                   for s, p, z in zip(shares, ps, zs, strict=True))
        w = w + constant - step
    return w
