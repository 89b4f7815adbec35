"""hedge.ml — learning on encrypted data: layouts, encrypted datasets, estimators.

Knows the CKKS engine (`hedge.ckks`) and the data layer (`hedge.data`); knows nothing about HTTP.
"""

from hedge.ml.confusion import ConfusionCounts, EncryptedConfusion, confusion_counts
from hedge.ml.dataset import BIAS, ClassificationData, EncryptedDataset, RegressionData
from hedge.ml.layout import RowLayout
from hedge.ml.logistic import (
    EncryptedLogisticRegression,
    preconditioner,
    reference_fit,
    reference_fit_sites,
)
from hedge.ml.metrics import BRIER_BOUND, brier_score, mean_squared_error
from hedge.ml.model import EncryptedLinearModel, LinearModel
from hedge.ml.plan import TrainingPlan, plan_training
from hedge.ml.ridge import EncryptedRidge, reference_ridge_sites
from hedge.ml.sigmoid import sigmoid_polynomial
from hedge.ml.sign_approximation import SignApproximation

__all__ = [
    "BIAS",
    "BRIER_BOUND",
    "ClassificationData",
    "ConfusionCounts",
    "EncryptedConfusion",
    "EncryptedDataset",
    "EncryptedLinearModel",
    "EncryptedLogisticRegression",
    "EncryptedRidge",
    "LinearModel",
    "RegressionData",
    "RowLayout",
    "SignApproximation",
    "TrainingPlan",
    "brier_score",
    "confusion_counts",
    "mean_squared_error",
    "plan_training",
    "preconditioner",
    "reference_fit",
    "reference_fit_sites",
    "reference_ridge_sites",
    "sigmoid_polynomial",
]
