"""A holder's keystore: sealed like a key set's, recognised (and refused) by KeySet.load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hedge.ckks import KeySet
from hedge.ckks.multiparty import LocalConsortium
from hedge.ckks.multiparty.store import HolderKeys
from hedge.errors import ParameterError, PolicyError, WrongPassphraseError
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
