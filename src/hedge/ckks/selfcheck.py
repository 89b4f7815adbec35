"""Engine self-check: every operation against numpy, plus a timing summary, on one preset.

Used by `hedge selfcheck` (the project's main job until the pipeline exists) and by tests.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hedge.ckks.hazmat import decrypt_exact
from hedge.ckks.keys import KeySet, PublicBundle
from hedge.ckks.params import Parameters
from hedge.ckks.vector import EncryptedVector
from hedge.errors import CorruptDataError, KeyMismatchError, WrongPassphraseError

__all__ = ["Check", "run_checks"]


@dataclass(frozen=True)
class Check:
    """Outcome of one check: its error against numpy (or None) and its wall time."""

    name: str
    passed: bool
    error: float | None
    tolerance: float | None
    seconds: float
    detail: str = ""


def _numeric(name: str, tol: float, compute: Callable[[], tuple[Any, Any]]) -> Check:
    start = time.perf_counter()
    got, want = compute()
    seconds = time.perf_counter() - start
    err = float(np.max(np.abs(np.asarray(got) - np.asarray(want))))
    return Check(name, err <= tol, err, tol, seconds)


def _raises(name: str, exc: type[BaseException], action: Callable[[], object]) -> Check:
    start = time.perf_counter()
    try:
        action()
    except exc as caught:
        return Check(name, True, None, None, time.perf_counter() - start, type(caught).__name__)
    return Check(name, False, None, None, time.perf_counter() - start, "no error raised")


def run_checks(params: str | Parameters = "fast", seed: int = 7) -> Iterator[Check]:
    """Yield checks one by one (key generation first), so callers can show progress."""
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    keys = KeySet.generate(params)
    bundle = keys.public()
    yield Check("key generation (power-of-two rotations)", True, None, None,
                time.perf_counter() - start, f"{len(bundle.rotation_steps)} Galois keys")
    n = 1000
    x, y = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    vx, vy = bundle.encrypt(x), bundle.encrypt(y)
    m = rng.uniform(-1, 1, (n, 8))
    tol = 1e-5
    yield _numeric("encrypt + decrypt", tol, lambda: (decrypt_exact(keys, bundle.encrypt(x)), x))
    yield _numeric("add, subtract", tol, lambda: (decrypt_exact(keys, vx + vy - 0.5), x + y - 0.5))
    yield _numeric("multiply (encrypted)", tol, lambda: (decrypt_exact(keys, vx * vy), x * y))
    yield _numeric("multiply (plain)", tol, lambda: (decrypt_exact(keys, vx * y), x * y))
    yield _numeric("sum", 1e-3, lambda: (decrypt_exact(keys, vx.sum()), [x.sum()]))
    yield _numeric("dot", 1e-3, lambda: (decrypt_exact(keys, vx.dot(vy)), [x @ y]))
    yield _numeric("rotate", tol, lambda: (decrypt_exact(keys, vx.rotate(3)), np.roll(x, -3)))
    coeffs = [0.5, 0.197, 0.0, -0.004]
    yield _numeric("polyval (sigmoid, degree 3)", tol,
                   lambda: (decrypt_exact(keys, vx.polyval(coeffs)),
                            np.polynomial.polynomial.polyval(x, coeffs)))
    small = bundle.encrypt(x[:64])
    yield _numeric("matmul 64x8", 1e-3,
                   lambda: (decrypt_exact(keys, small.matmul(m[:64])), x[:64] @ m[:64]))
    yield _numeric("serialize round trip", tol,
                   lambda: (decrypt_exact(keys, EncryptedVector.from_bytes(vx.to_bytes(), bundle)),
                            x))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "keys.hks"
        keys.save(path, passphrase="self-check")
        yield _numeric("keystore round trip", tol,
                       lambda: (decrypt_exact(KeySet.load(path, passphrase="self-check"), vx),
                                x))
        yield _raises("wrong passphrase refused", WrongPassphraseError,
                      lambda: KeySet.load(path, passphrase="wrong"))
        bundle.save(Path(tmp) / "public.bundle")
        yield _numeric("bundle round trip", tol, lambda: (
            decrypt_exact(keys, PublicBundle.load(Path(tmp) / "public.bundle").encrypt(x)), x))
    other = KeySet.generate(params, rotations=[])
    yield _raises("foreign key set refused", KeyMismatchError, lambda: decrypt_exact(other, vx))
    blob = bytearray(vx.to_bytes())
    blob[len(blob) // 2] ^= 0x40
    yield _raises("corruption detected", CorruptDataError,
                  lambda: EncryptedVector.from_bytes(bytes(blob), bundle))
