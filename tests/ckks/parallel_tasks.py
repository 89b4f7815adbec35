"""Module-level functions for the parallel pool tests (workers must be able to import them)."""

from __future__ import annotations

import os
import time

from hedge.ckks import EncryptedVector


def square_and_rotate(v: EncryptedVector) -> EncryptedVector:
    return (v * v).rotate(1)


def scale(v: EncryptedVector, factor: float) -> EncryptedVector:
    return v * factor


def worker_pid(v: EncryptedVector) -> EncryptedVector:
    """Which process ran the task; slow enough that one worker cannot take every task."""
    time.sleep(0.2)
    return v * 0 + float(os.getpid())


def add_pair(a: EncryptedVector, b: EncryptedVector) -> EncryptedVector:
    return a + b
