"""Every parser of bytes from another party, fed mutations of valid encodings: only the
`HedgeError` subclasses its target names escape (`targets.TARGETS`), nothing crashes or hangs
(each input within its target's time bound), and the valid encodings still parse.

Bounded for CI (the whole module well under a minute on two cores); longer runs:
`benchmarks/fuzz_deserializers.py`."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from tests.fuzz.mutate import DrawChoices, mutate_many
from tests.fuzz.targets import ACCEPTED, SKIPPED, TARGETS

#: Examples per target (the whole module takes about 20 s on two cores): the large seeds
#: (a bundle is 6 MB, a dataset 2-4 MB) and the keystores (scrypt, file writes) get fewer.
EXAMPLES = {"bundle": 150, "compact_bundle": 100, "dataset": 200, "keystore": 200,
            "keystore_inner": 150}
DEFAULT_EXAMPLES = 400


class Hang(BaseException):
    """An input ran past its time bound (not an Exception: no parser can swallow it)."""


@contextmanager
def time_bound(seconds: float) -> Iterator[None]:
    """Raise `Hang` in the main thread once `seconds` have passed."""
    def expire(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"the input took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@st.composite
def mutations(draw: st.DrawFn, seeds: Sequence[bytes]) -> bytes:
    seed = seeds[draw(st.integers(0, len(seeds) - 1))]
    return mutate_many(DrawChoices(draw), seed, seeds)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_valid_encodings_parse(name: str) -> None:
    target = TARGETS[name]
    for seed in target.seeds():
        assert target.run(seed) == ACCEPTED


def _check(name: str, data: st.DataObject) -> None:
    target = TARGETS[name]
    mutated = data.draw(mutations(target.seeds()), label="mutated input")
    note(f"{len(mutated)} bytes, starting {mutated[:80]!r}")
    start = time.perf_counter()
    with time_bound(target.time_bound):
        result = target.run(mutated)
    elapsed = time.perf_counter() - start
    assert elapsed < target.time_bound
    allowed = {ACCEPTED, SKIPPED, "none", *(e.__name__ for e in target.raises)}
    assert result in allowed


def _fuzz(name: str) -> None:
    examples = EXAMPLES.get(name, DEFAULT_EXAMPLES)
    check = settings(max_examples=examples, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])(
        given(data=st.data())(lambda data: _check(name, data)))
    check()


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_mutated_encodings_raise_only_hedge_errors(name: str) -> None:
    TARGETS[name].seeds()  # fixtures outside the examples' time
    _fuzz(name)
