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

from dataclasses import dataclass, field

import numpy as np
from sklearn.linear_model import LogisticRegression

from hedge.ckks import EncryptedVector, KeySet, polyval_depth
from hedge.errors import DepthExhaustedError, ShapeError
from hedge.ml.dataset import EncryptedDataset
from hedge.ml.layout import RowLayout
from hedge.ml.sigmoid import sigmoid_polynomial

__all__ = ["EncryptedLogisticModel", "EncryptedLogisticRegression", "LogisticModel",
           "preconditioner", "reference_fit"]


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
                        coeffs: np.ndarray, ridge: float = 1e-3) -> np.ndarray:
    """Plaintext twin of local preconditioning: site s contributes (n_s / n) Z_s P_s."""
    n = sum(len(z) for z in zs)
    zp = [len(z) / n * (z @ preconditioner(z.T @ z, ridge)) for z in zs]
    return _reference(np.vstack(zs), np.vstack(zp), iterations, learning_rate, coeffs)


def _reference(z: np.ndarray, zp: np.ndarray, iterations: int, learning_rate: float,
               coeffs: np.ndarray) -> np.ndarray:
    w = learning_rate * coeffs[0] * zp.sum(axis=0)
    for _ in range(iterations - 1):
        w = w + learning_rate * (np.polynomial.polynomial.polyval(-(z @ w), coeffs) @ zp)
    return np.asarray(w)


@dataclass
class LogisticModel:
    """A decrypted model over the schema's scaled columns: p = sigmoid(intercept + x . coef)."""

    columns: list[str]
    intercept: float
    coef: np.ndarray

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        scores: np.ndarray = np.asarray(x, dtype=np.float64) @ self.coef + self.intercept
        return scores

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Probability of the positive class for scaled feature rows."""
        proba: np.ndarray = 1.0 / (1.0 + np.exp(-self.decision_function(x)))
        return proba

    def to_sklearn(self) -> LogisticRegression:
        """An equivalent, fitted `sklearn.linear_model.LogisticRegression`."""
        model = LogisticRegression()
        model.classes_ = np.array([0, 1])
        model.coef_ = self.coef.reshape(1, -1)
        model.intercept_ = np.array([self.intercept])
        model.n_features_in_ = self.coef.size
        return model


@dataclass
class EncryptedLogisticModel:
    """Weights as ciphertext (a vector of the model's length); only the owner can decrypt."""

    weights: EncryptedVector
    layout: RowLayout
    columns: list[str]

    def decrypt(self, keys: KeySet, *, release: bool = True) -> LogisticModel:
        """Decrypt the weights; `release` (default) floods and rounds them, as for any value
        that leaves the owner."""
        values = keys.release(self.weights).values if release else keys.decrypt(self.weights)
        w = np.asarray(values)
        return LogisticModel(self.columns[1:], float(w[0]), np.asarray(w[1:]))


@dataclass
class EncryptedLogisticRegression:
    """sklearn-style estimator: `fit(dataset, preconditioner)` needs only the public bundle."""

    iterations: int = 2
    learning_rate: float = 1.0
    degree: int = 3
    bound: float = 6.0
    coeffs: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ValueError("at least one iteration is needed")
        self.coeffs = sigmoid_polynomial(self.degree, self.bound)

    def get_params(self) -> dict[str, float]:
        return {"iterations": self.iterations, "learning_rate": self.learning_rate,
                "degree": self.degree, "bound": self.bound}

    def required_depth(self) -> int:
        per_iteration = 2 + polyval_depth(list(self.coeffs))
        return 3 + per_iteration * (self.iterations - 1)  # + precondition, first step, head

    def fit(self, data: EncryptedDataset,
            preconditioner: np.ndarray | None = None) -> EncryptedLogisticModel:
        """Train on the pooled encrypted data. Without `preconditioner`, each site's own (local
        preconditioning); with one (released pooled P), the cloud applies it."""
        available = data.doubled[0].level
        if self.required_depth() > available:
            raise DepthExhaustedError(f"{self.iterations} fixed-Hessian iterations",
                                      self.required_depth(), available)
        if preconditioner is None:
            rows = _site_weighted(data)
        else:
            p = np.asarray(preconditioner, dtype=np.float64)
            if p.shape != (len(data.columns), len(data.columns)):
                raise ShapeError(
                    f"preconditioner must be {len(data.columns)} square, got {p.shape}")
            rows = precondition(data, p)
        w = _column_sums(data.layout, rows).scaled_to(self.learning_rate * self.coeffs[0],
                                                      rows[0].level - 1)
        # g(-t) with the learning rate folded in: coefficients of t^k change sign for odd k
        g = [self.learning_rate * c * (-1) ** k for k, c in enumerate(self.coeffs)]
        for _ in range(self.iterations - 1):
            terms = []
            for zd, zp in zip(data.doubled, rows, strict=True):
                dots = _row_sums(data.layout, zd * w)
                terms.append(dots.polyval(g) * zp)
            w = w + _column_sums(data.layout, terms)
        return EncryptedLogisticModel(w.head(len(data.columns)), data.layout, data.columns)


def _site_weighted(data: EncryptedDataset) -> list[EncryptedVector]:
    """Each site's preconditioned rows times n_s / n (one level, so that depth is the same
    whether there is one site or many)."""
    n = data.rows
    out: list[EncryptedVector] = []
    blocks = iter(data.preconditioned)
    for rows, count in zip(data.site_rows, data.site_blocks(), strict=True):
        for _ in range(count):
            block = next(blocks)
            out.append(block.scaled_to(rows / n, block.level - 1))
    return out


def precondition(data: EncryptedDataset, p: np.ndarray) -> list[EncryptedVector]:
    """Rows [P z_i, 0] from [z_i, z_i]: per-row diagonal method with BSGS rotations, depth 1."""
    layout = data.layout
    width, stride = layout.width, layout.stride
    padded = np.zeros((width, width))
    padded[: p.shape[0], : p.shape[1]] = p
    baby, giant = layout.row_product_plan()
    out = []
    for zd in data.doubled:
        babies = {t: zd.rotate(t) if t else zd for t in range(baby)}
        total = None
        for g in range(giant):
            inner = None
            for t in range(baby):
                delta = g * baby + t
                if delta >= width:
                    continue
                j = np.arange(width)
                pattern = np.zeros(stride)
                pattern[:width] = padded[(j + delta) % width, j]  # (P^T z)_j = sum P[k, j] z_k
                diag = np.roll(np.tile(pattern, layout.rows_per_block), g * baby)
                term = babies[t] * diag
                inner = term if inner is None else inner + term
            if inner is None:
                continue
            shifted = inner.rotate(g * baby) if g else inner
            total = shifted if total is None else total + shifted
        assert total is not None
        out.append(total)
    return out


def _row_sums(layout: RowLayout, v: EncryptedVector) -> EncryptedVector:
    for step in layout.row_sum_steps():
        v = v + v.rotate(step)
    return v


def _column_sums(layout: RowLayout, blocks: list[EncryptedVector]) -> EncryptedVector:
    """Sum over all rows of all blocks, tiled back as [s, s] in every row."""
    total = blocks[0]
    for b in blocks[1:]:
        total = total + b
    for step in layout.column_sum_steps():
        total = total + total.rotate(step)
    return total + total.rotate(-layout.width)
