"""A malicious cloud against a real key-service process, as docs/owner.md describes it: it
holds the public bundle, a site's ciphertext and the refresh token, and tries to learn the
site's value from how the key service answers crafted refreshes.

The attack: isolate the site's value s in the first slot, scale it by K = 2^114 and add a
chosen offset T (both without spending a level), so that the decryption is K s + T. The
attacker knows, from the public encoder alone, the value V* beyond which re-encoding the tiled
vector at the top level fails; with T = V* - K theta, a failing refresh says s > theta, and a
bisection over theta reads s to about 2^-20 in a few dozen queries. Against a service that
fails on large decryptions that is a decryption oracle; against one that refuses what a
refresh never sends and bounds what it re-encodes, every answer is the same whatever s is.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from hedge.audit import verify_log
from hedge.ckks import EncryptedVector, KeySet, PublicBundle
from hedge.ml.layout import RowLayout
from hedge.ml.refresh import refresh_level
from hedge.services import ServiceProcess
from hedge.wire.keyservice_client import HttpRefreshClient

COLUMNS = 5
QUERIES = 30
BUDGET = 40
TOKEN, ADMIN = "refresh-token-0123456789", "admin-token-0123456789ab"
PASSPHRASE = "a passphrase for the oracle test"
#: 2^114, in six multiplications by an integer (no level spent)
FACTOR, STEPS = 2.0**19, 6


@pytest.fixture(scope="module")
def keys() -> KeySet:
    return KeySet.generate("fast", rotations=[])


@pytest.fixture(scope="module")
def service(keys: KeySet, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[str, Path]]:
    """`hedge owner key-service` as a real process: (its URL, its audit log)."""
    root = tmp_path_factory.mktemp("oracle")
    keys.save(root / "keys.hks", passphrase=PASSPHRASE)
    audit = root / "audit.jsonl"
    proc = ServiceProcess(["owner", "key-service", "--keys", str(root / "keys.hks"),
                           "--audit", str(audit)], log=root / "keys.log",
                          env={"HEDGE_PASSPHRASE": PASSPHRASE, "HEDGE_KEY_SERVICE_TOKEN": TOKEN,
                               "HEDGE_KEY_SERVICE_ADMIN_TOKEN": ADMIN})
    proc.start()
    try:
        yield proc.url, audit
    finally:
        proc.stop()


def _failure_threshold(bundle: PublicBundle, layout: RowLayout) -> float:
    """The smallest first-slot value whose tiled re-encoding at the top level SEAL refuses,
    found with the public encoder alone (what the attacker computes offline)."""
    eng = bundle.engine

    def fails(v: float) -> bool:
        try:
            eng.encode(layout.tile(np.eye(COLUMNS)[0] * v), eng.top_level,
                       eng.scales[eng.top_level])
        except ValueError:
            return True
        return False

    lo, hi = 2.0**100, 2.0**140
    assert not fails(lo) and fails(hi)
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if fails(mid) else (mid, hi)
    return hi


def _attack(url: str, job: str, bundle: PublicBundle, site: EncryptedVector,
            level: int) -> tuple[float, list[int]]:
    """Bisect the site's first value with refreshes sent at `level`: (the estimate, the
    status of every answer)."""
    layout = RowLayout(COLUMNS, bundle.params.slot_count)
    threshold = _failure_threshold(bundle, layout)
    scaled = site if level == site.level else site.at_level(level)
    for _ in range(STEPS):
        scaled = scaled * FACTOR
    factor = FACTOR**STEPS
    lo, hi, statuses = -1.0, 1.0, []
    for _ in range(QUERIES):
        theta = (lo + hi) / 2
        offset = np.zeros(COLUMNS)
        offset[0] = threshold - factor * theta
        crafted = (scaled + offset).to_bytes()
        # a connection of its own per query: a server failing mid-request may close it
        answer = httpx.post(f"{url}/jobs/{job}/refresh", content=crafted, timeout=60,
                            headers={"Authorization": f"Bearer {TOKEN}",
                                     "Content-Type": "application/octet-stream"})
        statuses.append(answer.status_code)
        if answer.status_code >= 500:  # the re-encoding failed: K s + T > V*
            lo = theta
        else:
            hi = theta
    return (lo + hi) / 2, statuses


@pytest.mark.parametrize("level", ["top", "refresh"])
def test_failures_of_a_refresh_reveal_nothing_about_the_plaintext(
        service: tuple[str, Path], keys: KeySet, level: str) -> None:
    url, audit = service
    bundle = keys.public()
    sent_at = bundle.params.depth if level == "top" else refresh_level(bundle.params)
    runs = []
    with HttpRefreshClient(url, ADMIN) as owner:
        for index, secret in enumerate((0.3141592, -0.7182818)):
            job = f"oracle-{level}-{index}"
            owner.register_job(job, COLUMNS, COLUMNS, BUDGET)
            site = bundle.encrypt(np.array([secret, 0.0, 0.0, 0.0, 0.0]))
            before = len(verify_log(audit))
            estimate, statuses = _attack(url, job, bundle, site, sent_at)
            entries = [e for e in verify_log(audit)[before:] if e.job == job]
            runs.append((secret, estimate, statuses, entries))
            state = owner.job(job)
            # every query is audited, and every one the service decrypted is counted
            assert len(entries) == QUERIES, [e.event for e in entries]
            assert state["used"] == sum(e.event == "refresh" for e in entries)
            assert all(s in (200, 403) for s in statuses), statuses
    (s1, e1, statuses1, _), (s2, e2, statuses2, _) = runs
    # the attacker sees the same answers whatever the site's value: its estimate is the same
    # for both secrets, so it carries nothing about either
    assert statuses1 == statuses2
    assert e1 == e2
    assert abs(e1 - s1) > 1e-3 or abs(e2 - s2) > 1e-3
