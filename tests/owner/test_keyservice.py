"""KeyService in process: refresh round trip, policy refusals, audit trail, restart."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hedge.ckks import EncryptedVector, KeySet
from hedge.ckks.hazmat import decrypt_exact
from hedge.errors import CorruptDataError, KeyMismatchError, ParameterError, PolicyError
from hedge.ml.layout import RowLayout
from hedge.ml.refresh import (
    MASK_RANGE,
    REFRESH_BOUND,
    RefreshClient,
    refresh_level,
    refresh_tiled,
)
from hedge.owner import AuditLog, InProcessRefreshClient, KeyService
from tests.owner.conftest import COLUMNS, WEIGHTS

MakeService = Callable[..., KeyService]


def _events(service: KeyService) -> list[tuple[str, str | None]]:
    return [(e.event, e.job) for e in service.audit.entries()]


def _refused(service: KeyService) -> list[str]:
    return [e.details["reason"] for e in service.audit.entries() if e.event == "refused"]


@contextmanager
def restarted(service: KeyService, keys: KeySet) -> Iterator[KeyService]:
    """The service started again on its audit log (the first one closed)."""
    service.audit.close()
    again = KeyService(keys, AuditLog(service.audit.path))
    try:
        yield again
    finally:
        again.audit.close()


class Spy:
    """A RefreshClient that remembers what it sent."""

    def __init__(self, inner: RefreshClient) -> None:
        self.inner = inner
        self.sent: list[bytes] = []

    def refresh(self, job_id: str, masked: bytes) -> bytes:
        self.sent.append(masked)
        return self.inner.refresh(job_id, masked)


def test_refresh_round_trip(make_service: MakeService, owner_keys: KeySet, layout: RowLayout,
                            low_weights: EncryptedVector) -> None:
    service = make_service()
    service.register_job("job-1", COLUMNS, COLUMNS, 3)
    spy = Spy(InProcessRefreshClient(service))
    fresh = refresh_tiled(spy, "job-1", low_weights, layout)
    assert fresh.level == owner_keys.params.depth == 3
    assert fresh.length == low_weights.length
    assert np.max(np.abs(decrypt_exact(owner_keys, fresh) - layout.tile(WEIGHTS))) < 1e-6
    # what the key service saw: length-5 masked values, not the weights
    seen = decrypt_exact(owner_keys, EncryptedVector.from_bytes(spy.sent[0], owner_keys.public()))
    assert seen.shape == (COLUMNS,) and np.all(np.abs(seen) <= MASK_RANGE + 1)
    assert _events(service)[-2:] == [("register", "job-1"), ("refresh", "job-1")]
    last = service.audit.entries()[-1].details
    assert last["used"] == 1 and last["max_refreshes"] == 3 and last["length"] == COLUMNS
    assert last["level_out"] == 3
    assert service.job("job-1").used == 1  # type: ignore[union-attr]


def test_the_budget_is_enforced_and_audited(make_service: MakeService, layout: RowLayout,
                                            low_weights: EncryptedVector) -> None:
    service = make_service()
    service.register_job("job-b", COLUMNS, COLUMNS, 2)
    client = InProcessRefreshClient(service)
    masked = (low_weights.head(COLUMNS) + 1.0).to_bytes()
    client.refresh("job-b", masked)
    client.refresh("job-b", masked)
    with pytest.raises(PolicyError, match="used all 2 refreshes"):
        client.refresh("job-b", masked)
    assert _events(service)[-1] == ("refused", "job-b")
    assert "used all 2 refreshes" in _refused(service)[-1]


def test_unregistered_job_is_refused_and_audited(make_service: MakeService,
                                                 low_weights: EncryptedVector) -> None:
    service = make_service()
    with pytest.raises(PolicyError, match="not registered"):
        service.refresh("nobody", low_weights.head(COLUMNS).to_bytes())
    assert _events(service)[-1] == ("refused", "nobody")


def test_wrong_length_is_refused_and_audited(make_service: MakeService,
                                             low_weights: EncryptedVector) -> None:
    service = make_service()
    service.register_job("job-l", COLUMNS, COLUMNS, 5)
    with pytest.raises(PolicyError, match=f"length {COLUMNS}, not 4096"):
        service.refresh("job-l", low_weights.to_bytes())  # the whole tiled vector
    assert "not 4096" in _refused(service)[-1]
    assert service.job("job-l").used == 0  # type: ignore[union-attr]


@pytest.mark.parametrize("level", [0, 2, 3])
def test_a_vector_off_the_refresh_level_is_refused_before_decryption(
        make_service: MakeService, owner_keys: KeySet, level: int) -> None:
    assert refresh_level(owner_keys.params) == 1  # 'fast': level 0 holds only |x| < 128
    service = make_service()
    service.register_job("job-v", COLUMNS, COLUMNS, 5)
    vector = owner_keys.public().encrypt(WEIGHTS).at_level(level)
    with pytest.raises(PolicyError, match=f"from level 1 of the 'fast' preset, not {level}"):
        service.refresh("job-v", vector.to_bytes())
    assert _events(service)[-1] == ("refused", "job-v")
    assert service.job("job-v").used == 0  # type: ignore[union-attr]


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.floats(-1.0, 1.0), doublings=st.integers(0, 160),
       offset=st.floats(-2.0**60, 2.0**60))
def test_any_decryption_is_answered_alike_and_counted(
        make_service: MakeService, owner_keys: KeySet, layout: RowLayout, value: float,
        doublings: int, offset: float) -> None:
    """Crafted vectors whose decryption is small, huge or wrapped around modulo the level's
    primes (a value doubled up to 160 times): every one is answered with a top-level
    ciphertext of values clipped to +-REFRESH_BOUND, and every one spends one refresh."""
    service = make_service(f"audit-{uuid.uuid4().hex}.jsonl")
    service.register_job("job-h", COLUMNS, COLUMNS, 2)
    crafted = owner_keys.public().encrypt(np.full(COLUMNS, value)).at_level(1)
    for _ in range(doublings // 19):
        crafted = crafted * float(2**19)
    crafted = (crafted * float(2 ** (doublings % 19))) + np.full(COLUMNS, offset)
    answer = EncryptedVector.from_bytes(service.refresh("job-h", crafted.to_bytes()),
                                        owner_keys.public())
    assert answer.level == owner_keys.params.depth and answer.length == layout.slots
    assert np.all(np.abs(decrypt_exact(owner_keys, answer)) <= REFRESH_BOUND * (1 + 1e-9))
    assert service.job("job-h").used == 1  # type: ignore[union-attr]
    assert _events(service)[-1] == ("refresh", "job-h")


def test_duplicate_registration_is_refused_and_audited(make_service: MakeService) -> None:
    service = make_service()
    service.register_job("job-d", 3, 4, 1)
    with pytest.raises(PolicyError, match="already registered"):
        service.register_job("job-d", 3, 4, 10)
    assert _events(service)[-1] == ("refused", "job-d")
    assert service.job("job-d").max_refreshes == 1  # type: ignore[union-attr]


def test_foreign_key_set_is_rejected_and_audited(make_service: MakeService,
                                                 foreign_keys: KeySet) -> None:
    service = make_service()
    service.register_job("job-f", COLUMNS, COLUMNS, 5)
    foreign = foreign_keys.public().encrypt(WEIGHTS).at_level(1)
    with pytest.raises(KeyMismatchError):
        service.refresh("job-f", foreign.to_bytes())
    last = service.audit.entries()[-1]
    assert (last.event, last.details["error"]) == ("refused", "KeyMismatchError")
    assert service.job("job-f").used == 0  # type: ignore[union-attr]


def test_corrupt_bytes_are_rejected(make_service: MakeService,
                                    low_weights: EncryptedVector) -> None:
    service = make_service()
    service.register_job("job-c", COLUMNS, COLUMNS, 5)
    data = low_weights.head(COLUMNS).to_bytes()
    with pytest.raises(CorruptDataError):
        service.refresh("job-c", data[:-100])
    with pytest.raises(CorruptDataError):
        service.refresh("job-c", b"not a vector")


@pytest.mark.parametrize(("job_id", "length", "columns", "budget"), [
    ("", 5, 5, 1), ("../etc", 5, 5, 1), ("j", 0, 5, 1), ("j", 6, 5, 1), ("j", 5, 5, 0),
    ("j", 5, 4096, 1), ("j", True, 5, 1),
])
def test_invalid_registrations(make_service: MakeService, job_id: str, length: int,
                               columns: int, budget: int) -> None:
    service = make_service()
    with pytest.raises(ParameterError):
        service.register_job(job_id, length, columns, budget)


def test_a_cancelled_job_refreshes_no_more_also_after_a_restart(
        make_service: MakeService, owner_keys: KeySet, low_weights: EncryptedVector) -> None:
    service = make_service()
    service.register_job("job-c", COLUMNS, COLUMNS, 5)
    masked = low_weights.head(COLUMNS).to_bytes()
    service.refresh("job-c", masked)
    state = service.cancel_job("job-c")
    assert (state.used, state.max_refreshes, state.left) == (1, 1, 0)
    assert _events(service)[-1] == ("cancel", "job-c")
    with pytest.raises(PolicyError, match="used all 1"):
        service.refresh("job-c", masked)
    with pytest.raises(PolicyError, match="not registered"):
        service.cancel_job("nobody")
    assert _events(service)[-1] == ("refused", "nobody")
    with restarted(service, owner_keys) as again:
        assert again.job("job-c").left == 0  # type: ignore[union-attr]
        with pytest.raises(PolicyError, match="used all 1"):
            again.refresh("job-c", masked)


def test_a_restart_keeps_registrations_and_budgets(make_service: MakeService,
                                                   owner_keys: KeySet, tmp_path: object,
                                                   low_weights: EncryptedVector) -> None:
    service = make_service()
    token = service.register_job("job-r", COLUMNS, COLUMNS, 2)
    masked = low_weights.head(COLUMNS).to_bytes()
    service.refresh("job-r", masked)
    with restarted(service, owner_keys) as again:
        assert again.job("job-r").used == 1  # type: ignore[union-attr]
        assert again.job_of_token(token) == "job-r"  # its digest, from the log
        again.refresh("job-r", masked)
        with pytest.raises(PolicyError, match="used all 2"):
            again.refresh("job-r", masked)
        with pytest.raises(PolicyError, match="already registered"):
            again.register_job("job-r", COLUMNS, COLUMNS, 100)
        assert [e.event for e in again.audit.entries()].count("start") == 2


def test_the_audit_log_never_holds_decrypted_values(make_service: MakeService,
                                                    owner_keys: KeySet, layout: RowLayout,
                                                    low_weights: EncryptedVector) -> None:
    service = make_service()
    service.register_job("job-p", COLUMNS, COLUMNS, 3)
    spy = Spy(InProcessRefreshClient(service))
    refresh_tiled(spy, "job-p", low_weights, layout)
    # an unmasked vector too (a careless or malicious cloud): still no value in the log
    service.refresh("job-p", low_weights.head(COLUMNS).to_bytes())
    seen = decrypt_exact(owner_keys, EncryptedVector.from_bytes(spy.sent[0], owner_keys.public()))
    text = service.audit.path.read_text()
    assert "0.7182818284" not in text and "0.718281828" not in text
    text = re.sub(r'"time":"[^"]*"', "", text)  # a timestamp's digits may match by chance
    for value in [*WEIGHTS, *seen]:
        for shown in (repr(float(value)), f"{value:.6f}", f"{value:.4f}"):
            assert shown not in text, shown
    assert repr(WEIGHTS) not in text and repr(WEIGHTS.tolist()) not in text


def test_the_key_service_sees_the_weights_only_under_fresh_uniform_masks(
        make_service: MakeService, owner_keys: KeySet, layout: RowLayout,
        low_weights: EncryptedVector) -> None:
    # docs/security.md: the key service sees w + r for a uniform mask r in +-2^14, never w
    service = make_service()
    service.register_job("job-m", COLUMNS, COLUMNS, 4)
    spy = Spy(InProcessRefreshClient(service))
    for _ in range(4):
        refresh_tiled(spy, "job-m", low_weights, layout)
    bundle = owner_keys.public()
    seen = np.array([decrypt_exact(owner_keys, EncryptedVector.from_bytes(sent, bundle))
                     for sent in spy.sent])
    masks = seen - WEIGHTS  # one row per refresh
    assert masks.shape == (4, COLUMNS)
    assert np.all(np.abs(masks) <= MASK_RANGE + 1)
    # each refresh hides the weights: some value is off by far more than CKKS noise (~1e-8);
    # all five within 1 of the weights by chance: 2^-70
    assert np.all(np.max(np.abs(masks), axis=1) > 1)
    # the masks are fresh, not one mask reused (differences would leak the weights' changes)
    assert all(np.max(np.abs(masks[i] - masks[j])) > 1 for i in range(4) for j in range(i))
    # spread like uniform(+-MASK_RANGE) (std MASK_RANGE / sqrt 3), not a small perturbation;
    # 20 uniform values failing either bound by chance: < 1e-11
    assert np.max(np.abs(masks)) > MASK_RANGE / 4
    assert np.std(masks) > MASK_RANGE / 16


def test_refreshes_do_not_spend_the_key_sets_release_budget(
        make_service: MakeService, owner_keys: KeySet, layout: RowLayout,
        low_weights: EncryptedVector) -> None:
    # docs/owner.md: a refresh is not a release
    service = make_service()
    service.register_job("job-n", COLUMNS, COLUMNS, 3)
    client = InProcessRefreshClient(service)
    used, budget = owner_keys.releases_used, owner_keys.max_releases
    refresh_tiled(client, "job-n", low_weights, layout)
    refresh_tiled(client, "job-n", low_weights, layout)
    service.refresh("job-n", low_weights.head(COLUMNS).to_bytes())
    assert service.job("job-n").used == 3  # type: ignore[union-attr]
    assert service.keys is owner_keys
    assert (owner_keys.releases_used, owner_keys.max_releases) == (used, budget)
