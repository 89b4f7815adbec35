"""Parallel map over encrypted vectors on a Ray cluster (the `hedge[ray]` extra).

Same interface as `CkksPool.map`; runs on a local Ray instance, or on a cluster given its address.
One actor per worker loads the public bundle once (from Ray's object store); vectors travel as
hedge containers. Workers never see secret keys. Functions must be importable by the workers
(module-level functions of an installed package).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

from hedge.ckks import parallel
from hedge.ckks.keys import PublicBundle
from hedge.ckks.vector import EncryptedVector
from hedge.errors import ParameterError

__all__ = ["RayPool"]


class _Worker:
    """Ray actor body: holds the bundle, runs mapped functions."""

    def __init__(self, bundle_bytes: bytes) -> None:
        parallel._bundle = PublicBundle.from_bytes(bundle_bytes)

    def run(self, fn: Callable[..., EncryptedVector], items: tuple[Any, ...],
            args: tuple[Any, ...]) -> bytes:
        return parallel._run(fn, items, args)


class RayPool:
    """Workers on Ray: `address` of a running cluster, or None to start a local instance."""

    def __init__(self, bundle: PublicBundle, *, address: str | None = None,
                 workers: int | None = None, object_store_bytes: int | None = None) -> None:
        try:
            import ray  # noqa: PLC0415 - optional dependency
        except ImportError:
            raise ParameterError("Ray is not installed; install the extra: pip install "
                                 "'hedge[ray]'") from None
        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     object_store_memory=object_store_bytes)
        self.bundle = bundle
        count = workers or int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
        if count < 1:
            raise ParameterError("workers must be at least 1")
        reference = ray.put(bundle.to_bytes())
        actor: Any = ray.remote(num_cpus=1)(_Worker)
        self._actors: list[Any] = [actor.remote(reference) for _ in range(count)]

    def map(self, fn: Callable[..., EncryptedVector],
            items: Iterable[EncryptedVector | tuple[EncryptedVector, ...]],
            *args: Any) -> list[EncryptedVector]:
        """[fn(*item, *args) for item in items] on the actors, round robin, in order."""
        shipped = tuple(parallel._ship(a) for a in args)
        futures = [
            actor.run.remote(fn, parallel._ship_item(item), shipped)
            for actor, item in zip(itertools.cycle(self._actors), items)
        ]
        return [EncryptedVector.from_bytes(b, self.bundle) for b in self._ray.get(futures)]

    def close(self) -> None:
        for actor in self._actors:
            self._ray.kill(actor)
        self._actors = []
        if self._started:
            self._ray.shutdown()

    def __enter__(self) -> RayPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
