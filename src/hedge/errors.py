"""The hedge exception tree: every error hedge raises on purpose derives from `HedgeError`.

```
HedgeError                      root: catch this to handle any hedge failure
├── ParameterError              invalid or insecure encryption parameters, unknown preset,
│                               NaN/infinite or out-of-range values to encrypt
├── KeyMismatchError            objects from different key sets or parameter sets were combined
├── DepthExhaustedError         an operation needs more multiplicative depth than remains
├── RotationKeyError            a rotation needs a Galois key the bundle does not hold
├── CorruptDataError            truncated, corrupted or foreign bytes (containers, keystores)
│   ├── WrongPassphraseError    a keystore could not be opened: wrong passphrase or modified file
│   └── SignatureError          a signed message does not verify: modified, or another signer
├── SecretMaterialError         secret key material where only public material is allowed
├── PolicyError                 an operation is refused by a policy (release limits, budgets)
│   ├── TooLargeError           a body beyond a service's size limit (upload, refresh)
│   ├── JobLostError            a worker no longer owns its job (the cloud's job queue)
│   ├── ApprovalPendingError    a key holder waits for its operator's approval of a request
│   └── BufferFullError         the edge's buffer is at its limit
│       └── TooLargeForBufferError  one intake larger than the whole buffer
├── ShapeError                  operand lengths or matrix shapes do not fit together
├── SchemaError                 data does not match its schema (missing columns, NaN, drift)
│   └── DatasetNotFoundError    a dataset file is not where hedge looks for it
├── CloudUnavailableError       the cloud is away or failing (network, 5xx), after retries
├── DatabaseUnavailableError    the cloud's database cannot be reached or opened
└── MissingExtraError           a feature needs an install extra that is not installed
```

Every message says what went wrong and what to do about it.
"""

from __future__ import annotations

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
]


class HedgeError(Exception):
    """Root of all errors raised by hedge."""


class ParameterError(HedgeError, ValueError):
    """Encryption parameters are invalid, insecure, or an unknown preset was named."""


class KeyMismatchError(HedgeError):
    """Objects from different key sets (or parameter sets) were combined."""


class DepthExhaustedError(HedgeError):
    """An operation needs more multiplicative depth than the ciphertext has left.

    Attributes `needed` and `available` give the depth in levels.
    """

    def __init__(self, operation: str, needed: int, available: int) -> None:
        self.operation = operation
        self.needed = needed
        self.available = available
        super().__init__(
            f"{operation} needs multiplicative depth {needed} but the ciphertext has "
            f"{available} level(s) left; use a deeper preset (e.g. 'standard' or 'deep'), "
            "or refresh the ciphertext through the owner"
        )


class RotationKeyError(HedgeError):
    """A rotation needs a Galois key that the public bundle does not contain."""


class CorruptDataError(HedgeError, ValueError):
    """Bytes are truncated, corrupted, of an unknown format version, or not hedge data at all."""


class WrongPassphraseError(CorruptDataError):
    """A keystore could not be decrypted: the passphrase is wrong or the file was modified."""


class SignatureError(CorruptDataError):
    """A signed message does not verify: it was modified, or signed by another key."""


class SecretMaterialError(HedgeError):
    """Secret key material was found where only public material is allowed."""


class PolicyError(HedgeError):
    """An operation was refused by a policy (release limits, budgets, registrations)."""


class TooLargeError(PolicyError):
    """A body exceeds a service's size limit (an upload to the cloud, a refresh to the key
    service)."""


class JobLostError(PolicyError):
    """The worker no longer owns the job (it was presumed dead and the job requeued)."""


class ApprovalPendingError(PolicyError):
    """A key holder answers this co-decryption request only once its operator approved it
    (its policy says so); nothing was decrypted or counted, the request stays pending."""


class BufferFullError(PolicyError):
    """The edge's buffer is at its byte limit; the rows stay at their source until uploads
    free it."""


class TooLargeForBufferError(BufferFullError):
    """The rows are larger than the whole buffer: they would never fit; split them."""


class ShapeError(HedgeError, ValueError):
    """Operand lengths or matrix shapes do not fit together."""


class SchemaError(HedgeError, ValueError):
    """Data does not match its schema: missing or extra columns, NaN, values outside the range."""


class DatasetNotFoundError(SchemaError, FileNotFoundError):
    """A dataset file is not where hedge looks for it (HEDGE_DATASETS or ../shared/datasets)."""


class CloudUnavailableError(HedgeError):
    """The cloud could not be reached (after retries) or failed; nothing was lost, try again
    later. `sent`: whether the request may have reached the service (a POST that may have
    taken effect), False when no connection was ever opened."""

    def __init__(self, message: str, *, sent: bool = True) -> None:
        super().__init__(message)
        self.sent = sent


class DatabaseUnavailableError(HedgeError):
    """The cloud's database cannot be reached, logged into or opened (a server that is down or
    elsewhere, an unknown user or database, a file that cannot be created); nothing was
    changed."""


class MissingExtraError(HedgeError):
    """A command or function needs a package of an install extra that is not installed; the
    message names the extra and the `pip install 'hedge[...]'` that brings it."""
