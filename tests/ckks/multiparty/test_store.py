"""A holder's keystore: sealed like a key set's, recognised (and refused) by KeySet.load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hedge.ckks import KeySet
from hedge.ckks.multiparty import LocalConsortium, combine, decryption_share
from hedge.ckks.multiparty.store import HolderKeys
from hedge.ckks.multiparty.threshold import ThresholdShare, deal
from hedge.errors import CorruptDataError, ParameterError, PolicyError, WrongPassphraseError
from tests.ckks.multiparty.conftest import HOLDERS


def test_a_share_round_trips_and_still_decrypts(consortium: LocalConsortium,
                                                tmp_path: Path) -> None:
    path = tmp_path / "plant-1.hks"
    keys = HolderKeys("plant-1", consortium.shares["plant-1"], consortium.bundle.fingerprint,
                      HOLDERS, max_decryptions=2)
    keys.spend()
    keys.save(path, passphrase="pw")
    back = HolderKeys.load(path, passphrase="pw")
    assert (back.holder, back.holders, back.fingerprint) == ("plant-1", HOLDERS,
                                                             consortium.bundle.fingerprint)
    assert (back.max_decryptions, back.decryptions_used) == (2, 1)
    assert np.array_equal(back.share._s, consortium.shares["plant-1"]._s)
    back.spend()
    with pytest.raises(PolicyError, match="new keys"):
        back.spend()
    assert path.stat().st_size < 400_000  # one polynomial: no key material beside the share


def test_wrong_passphrase_and_key_set_loading_are_refused(consortium: LocalConsortium,
                                                          tmp_path: Path) -> None:
    path = tmp_path / "owner.hks"
    HolderKeys("owner", consortium.shares["owner"], consortium.bundle.fingerprint,
               HOLDERS).save(path, passphrase="pw")
    with pytest.raises(WrongPassphraseError):
        HolderKeys.load(path, passphrase="other")
    with pytest.raises(ParameterError, match="share of a threshold key"):
        KeySet.load(path, passphrase="pw")
    with pytest.raises(ParameterError, match="one of distinct holders"):
        HolderKeys("plant-9", consortium.shares["owner"], "f", HOLDERS)


def test_a_dealt_point_replaces_the_share_and_round_trips(consortium: LocalConsortium,
                                                           tmp_path: Path) -> None:
    dealt = [deal(k, len(HOLDERS), 2) for k in consortium.shares.values()]  # 2 of 3
    keys = [HolderKeys(h, consortium.shares[h], consortium.bundle.fingerprint, HOLDERS)
            .thresholdized([d[i] for d in dealt], 2) for i, h in enumerate(HOLDERS)]
    path = tmp_path / "plant-2.hks"
    keys[2].save(path, passphrase="pw")
    back = HolderKeys.load(path, passphrase="pw")
    assert back.threshold == 2 and np.array_equal(back.share.point, keys[2].share.point)
    assert isinstance(back.share, ThresholdShare) and back.share.index == 2
    # any two decrypt with their weighted points
    v = consortium.bundle.encrypt([0.75, -0.5])
    ct = v.ciphertexts[0]
    pair = ["owner", "plant-2"]
    shares = [decryption_share(k.decryption_key(pair), k.holder, ct, 1.0)
              for k in (keys[0], back)]
    assert np.allclose(combine(consortium.params, ct, shares, pair)[:2], [0.75, -0.5],
                       atol=1e-5)
    with pytest.raises(ParameterError, match="exactly 2 distinct holders"):
        back.decryption_key(list(HOLDERS))
    with pytest.raises(ParameterError, match="not holders of this key: plant-9"):
        back.decryption_key(["plant-2", "plant-9"])
    with pytest.raises(ParameterError, match="every holder"):
        HolderKeys("owner", consortium.shares["owner"], "f", HOLDERS).decryption_key(pair)
    with pytest.raises(ParameterError, match="one point from each"):
        back.thresholdized([dealt[0][2]] * 3, 2)
    with pytest.raises(ParameterError, match="needs its threshold"):
        HolderKeys("owner", keys[0].share, "f", HOLDERS)


def test_a_stored_point_out_of_range_is_corrupt(consortium: LocalConsortium,
                                                tmp_path: Path) -> None:
    dealt = [deal(k, len(HOLDERS), 2) for k in consortium.shares.values()]
    keys = HolderKeys("owner", consortium.shares["owner"], consortium.bundle.fingerprint,
                      HOLDERS).thresholdized([d[0] for d in dealt], 2)
    keys.share.point[0, 0] = np.uint64(2**63)
    keys.save(tmp_path / "bad.hks", passphrase="pw")
    with pytest.raises(CorruptDataError, match="at or above their primes"):
        HolderKeys.load(tmp_path / "bad.hks", passphrase="pw")
