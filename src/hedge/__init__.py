"""hedge — data-secure machine learning for industry on homomorphically encrypted data."""

from hedge.errors import (
    CorruptDataError,
    DatasetNotFoundError,
    DepthExhaustedError,
    HedgeError,
    KeyMismatchError,
    ParameterError,
    PolicyError,
    RotationKeyError,
    SchemaError,
    SecretMaterialError,
    ShapeError,
    TooLargeError,
    WrongPassphraseError,
)

__version__ = "0.1.0"

__all__ = [
    "CorruptDataError",
    "DatasetNotFoundError",
    "DepthExhaustedError",
    "HedgeError",
    "KeyMismatchError",
    "ParameterError",
    "PolicyError",
    "RotationKeyError",
    "SchemaError",
    "SecretMaterialError",
    "ShapeError",
    "TooLargeError",
    "WrongPassphraseError",
    "__version__",
]
