"""Process-based parallel map over encrypted vectors.

seal-python holds the GIL, so threads do not run SEAL operations in parallel. `CkksPool` starts
worker processes that each load the public bundle once; vectors travel as hedge containers
(`to_bytes` / `from_bytes`, about a millisecond per ciphertext). The mapped function must be a
module-level function (picklable) taking an `EncryptedVector` (plus fixed extra arguments) and
returning an `EncryptedVector`. Workers never see secret keys.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from hedge.ckks.keys import PublicBundle
from hedge.ckks.vector import EncryptedVector
from hedge.errors import ParameterError

__all__ = ["CkksPool"]

_bundle: PublicBundle | None = None


def _init_worker(source: bytes | str) -> None:
    global _bundle
    if isinstance(source, str):
        _bundle = PublicBundle.load(source)
    else:
        _bundle = PublicBundle.from_bytes(source)


def _run(fn: Callable[..., EncryptedVector], blob: bytes, args: tuple[Any, ...]) -> bytes:
    if _bundle is None:
        raise RuntimeError("worker was not initialised with a bundle")
    return fn(EncryptedVector.from_bytes(blob, _bundle), *args).to_bytes()


class CkksPool:
    """A pool of worker processes sharing one public bundle.

    ``bundle`` is a `PublicBundle` (sent to each worker once) or the path of a saved bundle
    (each worker loads it from disk, better for large bundles).
    """

    def __init__(self, bundle: PublicBundle | str | os.PathLike[str], workers: int | None = None,
                 *, start_method: str = "spawn") -> None:
        if isinstance(bundle, PublicBundle):
            self.bundle = bundle
            source: bytes | str = bundle.to_bytes()
        else:
            source = str(Path(bundle))
            self.bundle = PublicBundle.load(source)
        if workers is not None and workers < 1:
            raise ParameterError("workers must be at least 1 (or None for one per core)")
        self.workers = workers or os.cpu_count() or 1
        self._executor = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context(start_method),
            initializer=_init_worker,
            initargs=(source,),
        )

    def warm_up(self) -> None:
        """Start every worker and load the bundle there (otherwise done on first use)."""
        list(self._executor.map(_noop, range(self.workers)))

    def map(self, fn: Callable[..., EncryptedVector], vectors: Iterable[EncryptedVector],
            *args: Any) -> list[EncryptedVector]:
        """[fn(v, *args) for v in vectors], computed in the worker processes, in order."""
        # submit each task as soon as its bytes exist, so workers start while the rest serialise
        futures = [self._executor.submit(_run, fn, v.to_bytes(), args) for v in vectors]
        return [EncryptedVector.from_bytes(f.result(), self.bundle) for f in futures]

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> CkksPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _noop(_: int) -> int:
    return os.getpid()
