"""Releases in threshold mode: an artifact's decrypt co-decrypted by the holders through the
cloud, flooded for the values released and rounded as a single-key release is."""

from __future__ import annotations

import numpy as np
import pytest

from hedge.ckks import EncryptedVector
from hedge.ckks.multiparty import Flooding
from hedge.errors import ParameterError, PolicyError
from hedge.holder import ThresholdReleases
from hedge.ml.layout import RowLayout
from hedge.ml.model import EncryptedLinearModel
from hedge.wire.requests import Coverage
from tests.cloud.records import finished_job
from tests.holder.conftest import FAST, NAMES, UPLOADS, Relay, weights


def releases(relay: Relay, vector: EncryptedVector,
             uploads: list[Coverage] = UPLOADS) -> ThresholdReleases:
    """Releases of the result of a finished training job over `uploads` that holds `vector`."""
    s = relay.setting
    job = finished_job(relay.service, relay.cid, vector, uploads)
    return ThresholdReleases(relay.clients["owner"], relay.cid, FAST, s.owner_key, s.recipient,
                             dict(s.verify), job, "model", uploads, max_releases=6,
                             sleep=relay.answer_all)


def test_a_model_is_released_by_the_holders(relay: Relay) -> None:
    vector, x = weights(relay.setting.consortium)
    model = EncryptedLinearModel(vector, RowLayout(9, FAST.slot_count),
                                 ["bias", *[f"f{i}" for i in range(8)]])
    r = releases(relay, vector)
    released = model.decrypt(r)
    noise = Flooding(released=9, max_decryptions=6).slot_noise(FAST, len(NAMES))
    assert abs(released.intercept - x[0]) < 6 * noise
    assert np.abs(np.asarray(released.coef) - x[1:]).max() < 6 * noise
    assert r.noise_sigma(2.0**-16, 9) == pytest.approx(noise) and len(r.requests) == 1
    # some values of a vector: flooded for the prefix that holds them, rounded to the grid
    part = r.release(vector, indices=[4, 1])
    assert np.abs(part.values - x[[4, 1]]).max() < 6 * part.noise_sigma
    assert np.all(np.round(part.values / part.step) * part.step == part.values)
    state = relay.clients["owner"].codecryption(relay.cid, r.requests[-1])
    assert state["answered"] == sorted(NAMES)


def test_a_holders_refusal_stops_the_release(relay: Relay) -> None:
    vector, _ = weights(relay.setting.consortium)
    with pytest.raises(PolicyError, match=r"refused by .*19 rows"):
        releases(relay, vector, [Coverage(1, "plant-1", 19)]).release(vector)
    with pytest.raises(ParameterError, match="distinct positions"):
        releases(relay, vector, [Coverage(5, "plant-2", 40)]).release(vector, indices=[1, 1])
