"""The release budget survives concurrent owner commands and failed releases: every release is
counted in the keystore before it decrypts, one command at a time (`hedge.owner.releases`)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pytest

from hedge.ckks import EncryptedVector, KeySet
from hedge.errors import KeyMismatchError, PolicyError
from hedge.owner.releases import spending_keys

PASSPHRASE = "a passphrase for the release budget"


def _release_once(path: str, vector: bytes, outcome: multiprocessing.Queue) -> None:
    """One owner command: open the keystore for a release and release one vector."""
    try:
        with spending_keys(path, PASSPHRASE) as keys:
            keys.release(EncryptedVector.from_bytes(vector, keys.public()))
        outcome.put("released")
    except PolicyError:
        outcome.put("refused")


def test_concurrent_commands_release_no_more_than_the_budget(tmp_path: Path) -> None:
    keys = KeySet.generate("fast", rotations=[], max_releases=2)
    keys.save(tmp_path / "keys.hks", passphrase=PASSPHRASE)
    vector = keys.public().encrypt(np.array([0.25, 0.5])).to_bytes()
    spawn = multiprocessing.get_context("spawn")
    outcome = spawn.Queue()
    commands = [spawn.Process(target=_release_once,
                              args=(str(tmp_path / "keys.hks"), vector, outcome))
                for _ in range(4)]
    for command in commands:
        command.start()
    for command in commands:
        command.join(120)
    results = sorted(outcome.get(timeout=5) for _ in commands)
    assert results == ["refused"] * 2 + ["released"] * 2
    on_disk = KeySet.load(tmp_path / "keys.hks", passphrase=PASSPHRASE)
    assert on_disk.releases_used == 2


def test_a_release_is_on_disk_before_it_decrypts_and_stays_counted_if_it_fails(
        tmp_path: Path) -> None:
    keys = KeySet.generate("fast", rotations=[], max_releases=5)
    keys.save(tmp_path / "keys.hks", passphrase=PASSPHRASE)
    foreign = KeySet.generate("fast", rotations=[]).public().encrypt(np.array([1.0]))
    with spending_keys(tmp_path / "keys.hks", PASSPHRASE) as opened:
        with pytest.raises(KeyMismatchError):
            opened.release(foreign)  # counted, then its decryption refuses the ciphertext
        assert KeySet.load(tmp_path / "keys.hks", passphrase=PASSPHRASE).releases_used == 1
        opened.release(opened.public().encrypt(np.array([1.0])))
        assert KeySet.load(tmp_path / "keys.hks", passphrase=PASSPHRASE).releases_used == 2
    assert opened.on_spend is None  # closed: no more writes to the keystore


def test_a_releaser_audits_each_spend_and_a_refusal_of_its_action(tmp_path: Path) -> None:
    """`releasing`: the count on disk and ``release-counted`` in the audit log before each
    decryption; what the block raises audited as a refusal of the action, then raised."""
    from hedge.audit import AuditLog, verify_log
    from hedge.owner.releases import releasing

    keys = KeySet.generate("fast", rotations=[], max_releases=5)
    keys.save(tmp_path / "keys.hks", passphrase=PASSPHRASE)
    vector = keys.public().encrypt(np.array([0.5]))
    with AuditLog(tmp_path / "audit.jsonl") as log:
        with releasing(tmp_path / "keys.hks", PASSPHRASE, log, "job-7", "release-x") as r:
            assert abs(r.release(vector).values[0] - 0.5) < 1e-2
            r.record("release-x", {"values": 1})
        with pytest.raises(PolicyError, match="not this one"), releasing(
                tmp_path / "keys.hks", PASSPHRASE, log, "job-8", "release-x") as r:
            r.release(vector)
            raise PolicyError("not this one")
    events = [(e.event, e.job, e.details.get("releases_used")) for e in
              verify_log(tmp_path / "audit.jsonl")]
    assert events == [("release-counted", "job-7", 1), ("release-x", "job-7", None),
                      ("release-counted", "job-8", 2), ("refused", "job-8", None)]
    assert KeySet.load(tmp_path / "keys.hks", passphrase=PASSPHRASE).releases_used == 2
