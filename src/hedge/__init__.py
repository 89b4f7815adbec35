"""hedge — data-secure machine learning for industry on homomorphically encrypted data.

The package exports the whole exception tree (`hedge.errors`), so that `except
hedge.SomeError` works for any error hedge raises on purpose."""

from hedge.errors import (
    ApprovalPendingError,
    BufferFullError,
    CloudUnavailableError,
    CorruptDataError,
    DatabaseUnavailableError,
    DatasetNotFoundError,
    DepthExhaustedError,
    HedgeError,
    JobLostError,
    KeyMismatchError,
    MissingExtraError,
    ParameterError,
    PolicyError,
    RotationKeyError,
    SchemaError,
    SecretMaterialError,
    ShapeError,
    SignatureError,
    TooLargeError,
    TooLargeForBufferError,
    WrongPassphraseError,
)

__version__ = "0.1.0"

__all__ = [
    "ApprovalPendingError",
    "BufferFullError",
    "CloudUnavailableError",
    "CorruptDataError",
    "DatabaseUnavailableError",
    "DatasetNotFoundError",
    "DepthExhaustedError",
    "HedgeError",
    "JobLostError",
    "KeyMismatchError",
    "MissingExtraError",
    "ParameterError",
    "PolicyError",
    "RotationKeyError",
    "SchemaError",
    "SecretMaterialError",
    "ShapeError",
    "SignatureError",
    "TooLargeError",
    "TooLargeForBufferError",
    "WrongPassphraseError",
    "__version__",
]
