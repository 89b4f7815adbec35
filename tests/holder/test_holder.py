"""Holders answer a signed request by their own policy, audited; the recipient alone combines;
every refusal names its reason and decrypts nothing."""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import replace

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hedge.audit import verify_log
from hedge.ckks.multiparty import Flooding, HolderKeys, _layout
from hedge.ckks.multiparty.threshold import deal
from hedge.errors import (
    ApprovalPendingError,
    CorruptDataError,
    DepthExhaustedError,
    KeyMismatchError,
    PolicyError,
    SignatureError,
)
from hedge.holder import Holder, HolderPolicy, combine_answers
from hedge.wire.requests import CoDecryptionRequest, Coverage
from hedge.wire.signing import SigningKey
from tests.holder.conftest import FAST, NAMES, SITES, UPLOADS, Setting, make_holder, weights


def answer_all(s: Setting, message: dict, raw: list[bytes]) -> dict[str, dict[str, bytes]]:
    return {name: h.answer(message, raw) for name, h in s.holders.items()}


def test_every_holder_answers_and_the_recipient_combines(setting: Setting) -> None:
    vector, x = weights(setting.consortium)
    message, raw = setting.request(vector)
    answers = answer_all(setting, message, raw)
    request = CoDecryptionRequest.verify(message, setting.owner_key.verify_key)
    cts = [setting.consortium.bundle.engine.context.from_cipher_str(b) for b in raw]
    got = combine_answers(FAST, request, cts, answers, setting.recipient, setting.verify)[0]
    noise = Flooding(request.error_bound, 9, 6).slot_noise(FAST, len(NAMES))  # as they sized it
    assert np.abs(got[:9] - x).max() < 6 * noise and np.abs(got[9:]).max() < 6 * noise
    for name, holder in setting.holders.items():
        entries = verify_log(holder.audit.path)
        assert [e.event for e in entries] == ["co-decrypt"]
        assert entries[0].details["uploads"] == [[1, "plant-1", 400], [2, "plant-1", 5],
                                                 [3, "plant-2", 300]]
        assert HolderKeys.load(holder.keystore, passphrase=f"pass-{name}").decryptions_used == 1
    # one holder missing: the recipient says which, and combines nothing
    partial = {n: a for n, a in answers.items() if n != "plant-2"}
    with pytest.raises(KeyMismatchError, match="not answered yet: plant-2"):
        combine_answers(FAST, request, cts, partial, setting.recipient, setting.verify)
    # an answer relayed under another holder's name is refused
    swapped = {**answers, "plant-1": answers["plant-2"], "plant-2": answers["plant-1"]}
    with pytest.raises(SignatureError, match="delivered as plant-1"):
        combine_answers(FAST, request, cts, swapped, setting.recipient, setting.verify)
    # the cloud, which relays everything, holds no key that opens a share
    with pytest.raises(CorruptDataError, match="does not open"):
        combine_answers(FAST, request, cts, answers, X25519PrivateKey.generate(), setting.verify)


def test_a_request_singling_out_a_sites_upload_is_refused_by_that_site(
        setting: Setting) -> None:
    vector, _ = weights(setting.consortium)
    first, raw = setting.request(vector)
    answer_all(setting, first, raw)
    # the same uploads but plant-1's 5-row upload: the difference of the two results is it
    without = [u for u in UPLOADS if u.upload != 2]
    second, raw2 = setting.request(vector, without)
    with pytest.raises(PolicyError, match=r"plant-1 refuses .* 5 rows of plant-1"):
        setting.holders["plant-1"].answer(second, raw2)
    # plant-2's rows are the same in both: it answers (its own policy, not plant-1's)
    assert setting.holders["plant-2"].answer(second, raw2)
    refused = verify_log(setting.holders["plant-1"].audit.path)[-1]
    assert refused.event == "refused" and "5 rows of plant-1" in refused.details["reason"]
    # plant-1 spent nothing on the refused request
    keys = HolderKeys.load(setting.holders["plant-1"].keystore, passphrase="pass-plant-1")
    assert keys.decryptions_used == 1


def test_the_policys_minimum_rows_and_kinds(setting: Setting) -> None:
    vector, _ = weights(setting.consortium)
    few, raw = setting.request(vector, [Coverage(1, "plant-1", 400), Coverage(3, "plant-2", 7)])
    with pytest.raises(PolicyError, match="7 rows of plant-2"):
        setting.holders["plant-2"].answer(few, raw)
    tiny, raw = setting.request(vector, [Coverage(9, "plant-1", 19)])
    with pytest.raises(PolicyError, match="covers 19 rows"):
        setting.holders["owner"].answer(tiny, raw)
    log = []
    picky, _ = make_holder(setting.root / "picky", setting.consortium, "plant-2",
                           setting.owner_key.verify_key,
                           HolderPolicy(site="plant-2", kinds=("model",)), log)
    aggregate, raw = setting.request(vector, kind="aggregate")
    with pytest.raises(PolicyError, match="does not co-decrypt aggregate"):
        picky.answer(aggregate, raw)
    log[0].close()
    with pytest.raises(Exception, match="kinds among"):
        HolderPolicy(kinds=("refresh",))


def test_forged_foreign_expired_and_replayed_requests_are_refused(setting: Setting) -> None:
    vector, _ = weights(setting.consortium)
    holder = setting.holders["plant-1"]
    message, raw = setting.request(vector)
    forged = SigningKey().sign(message["payload"])
    with pytest.raises(SignatureError):
        holder.answer(forged, raw)
    altered = {**message, "payload": {**message["payload"], "kind": "aggregate"}}
    with pytest.raises(SignatureError):
        holder.answer(altered, raw)
    other, raw_other = setting.request(vector, consortium="ab" * 32)
    with pytest.raises(KeyMismatchError, match="for the key abab"):
        holder.answer(other, raw_other)
    late, raw_late = setting.request(vector)
    with pytest.raises(PolicyError, match="valid only between"):
        holder.answer(late, raw_late, now=time.time() + 3 * 24 * 3600)
    holder.answer(message, raw)
    with pytest.raises(PolicyError, match="answered or refused before"):
        holder.answer(message, raw)
    with pytest.raises(PolicyError, match="answered or refused before"):  # refused is final
        holder.answer(late, raw_late)
    events = [e.event for e in verify_log(holder.audit.path)]
    # the two that do not verify are logged, not audited: anyone can send one
    assert events == ["refused"] * 2 + ["co-decrypt"] + ["refused"] * 2


def test_a_ciphertext_the_request_does_not_name_is_not_decrypted(setting: Setting) -> None:
    vector, _ = weights(setting.consortium)
    holder = setting.holders["plant-2"]
    message, raw = setting.request(vector)
    _, other = setting.request(vector * 2.0)
    with pytest.raises(KeyMismatchError, match="SHA-256 differs"):
        holder.answer(message, other)
    message, raw = setting.request(vector)
    with pytest.raises(CorruptDataError, match="names 1 ciphertexts, 2 came"):
        holder.answer(message, raw * 2)
    message, raw = setting.request(vector)
    with pytest.raises(CorruptDataError, match="SEAL refused"):
        holder.answer(message, [raw[0][:-40]])
    message, raw = setting.request(vector)
    with pytest.raises(CorruptDataError, match="at most"):
        holder.answer(message, [raw[0] * 3])
    keys = HolderKeys.load(holder.keystore, passphrase="pass-plant-2")
    assert keys.decryptions_used == 0


def test_an_operator_approves_where_the_policy_says_so(setting: Setting) -> None:
    log = []
    careful, _ = make_holder(setting.root / "careful", setting.consortium, "plant-1",
                             setting.owner_key.verify_key,
                             HolderPolicy(site="plant-1", approval="operator"), log)
    vector, _ = weights(setting.consortium)
    message, raw = setting.request(vector)
    with pytest.raises(ApprovalPendingError, match="waits for an operator of plant-1"):
        careful.answer(message, raw)
    assert careful.answer(message, raw, approved_by="operator@plant-1")
    assert verify_log(careful.audit.path)[-1].details["approved_by"] == "operator@plant-1"
    log[0].close()


def test_the_budget_is_counted_before_sharing_and_runs_out(setting: Setting) -> None:
    vector, _ = weights(setting.consortium)
    holder = setting.holders["owner"]
    for _ in range(6):  # the keystores allow 6
        holder.answer(*setting.request(vector))
    with pytest.raises(PolicyError, match="0 co-decryptions left"):
        holder.answer(*setting.request(vector))
    assert HolderKeys.load(setting.holders["plant-1"].keystore,
                           passphrase="pass-plant-1").decryptions_used == 0


def two_of_three(setting: Setting, folder: str, logs: list) -> dict[str, Holder]:
    """The consortium's key dealt 2-of-3, each holder with its point, its site's policy and
    the signing key it enrolled with."""
    c = setting.consortium
    dealt = [deal(c.shares[n], len(NAMES), 2) for n in NAMES]
    holders = {}
    for i, name in enumerate(NAMES):
        keys = HolderKeys(name, c.shares[name], c.bundle.fingerprint, NAMES).thresholdized(
            [d[i] for d in dealt], 2)
        assert keys.budget == keys.max_decryptions * 2 // 3  # Q t / n: Q in all
        holders[name], _ = make_holder(setting.root / folder, c, name,
                                       setting.owner_key.verify_key,
                                       HolderPolicy(site=SITES[name]), logs, keys)
        holders[name].signing_key = setting.holders[name].signing_key
    return holders


def test_any_two_of_three_answer_a_request_naming_them(setting: Setting) -> None:
    c, logs = setting.consortium, []
    holders = two_of_three(setting, "2-of-3", logs)
    vector, x = weights(c)
    pair = ["owner", "plant-2"]
    message, raw = setting.request(vector, holders=pair)
    answers = {n: holders[n].answer(message, raw) for n in pair}
    request = CoDecryptionRequest.verify(message, setting.owner_key.verify_key)
    cts = [c.bundle.engine.context.from_cipher_str(b) for b in raw]
    got = combine_answers(FAST, request, cts, answers, setting.recipient, setting.verify)[0]
    assert np.abs(got[:9] - x).max() < 0.05
    with pytest.raises(KeyMismatchError, match="not plant-1: it is not asked"):
        holders["plant-1"].answer(message, raw)
    everyone, raw = setting.request(vector, holders=list(NAMES))
    with pytest.raises(KeyMismatchError, match="exactly 2 distinct holders"):
        holders["plant-1"].answer(everyone, raw)
    with pytest.raises(KeyMismatchError, match="not answered yet: plant-2"):
        combine_answers(FAST, request, cts, {"owner": answers["owner"]}, setting.recipient,
                        setting.verify)
    for log in logs:
        log.close()


def forged_scale(raw: bytes, scale: float) -> bytes:
    """The ciphertext's bytes claiming another scale (SEAL's loader takes it)."""
    ct = _layout.parse_ciphertext(raw)
    return _layout.ciphertext_bytes(replace(ct, scale=scale))


def test_a_requester_cannot_shrink_the_holders_noise(setting: Setting) -> None:
    """A request may not make a holder's share its bare c1 s_i: not by a ciphertext claiming a
    tiny scale, not by a tiny error bound, not by claiming a mask the holder does not apply."""
    vector, _ = weights(setting.consortium)
    holder = setting.holders["plant-1"]
    _, raw = setting.request(vector)
    bad = forged_scale(raw[0], 1e-300)
    forged, _ = setting.request(vector, digests=[hashlib.sha256(bad).hexdigest()])
    with pytest.raises(CorruptDataError, match="claims the scale"):
        holder.answer(forged, [bad])
    tiny, raw = setting.request(vector, error_bound=2.0**-40)
    with pytest.raises(PolicyError, match="floods for at least"):
        holder.answer(tiny, raw)
    last, raw = setting.request(vector.at_level(0))  # nothing left to mask with
    with pytest.raises(DepthExhaustedError, match="masking a ciphertext"):
        holder.answer(last, raw)
    zero_key, raw = setting.request(vector, recipient_key=base64.b64encode(bytes(32)).decode())
    with pytest.raises(CorruptDataError, match="cannot be answered"):
        holder.answer(zero_key, raw)
    keys = HolderKeys.load(holder.keystore, passphrase="pass-plant-1")
    assert keys.decryptions_used == 0  # every refusal came before the count
    # the holder masks itself: its share of an unmasked ciphertext is a share of the masked one
    ok, raw = setting.request(vector)
    shares = holder.answer(ok, raw)
    assert list(shares) == [hashlib.sha256(raw[0]).hexdigest()]


def test_with_t_of_n_the_holders_share_a_record_of_what_was_answered(
        setting: Setting) -> None:
    """Two of three: R1 over uploads 1 and 3 goes to the owner and plant-2, R2 over 1, 2 and
    3 to plant-1 and plant-2; R2 - R1 would be plant-1's 5 rows. plant-1 never saw R1, but the
    record of answered requests holds it, and plant-1 refuses."""
    logs: list = []
    holders = two_of_three(setting, "shared", logs)
    vector, _ = weights(setting.consortium)
    r1, raw1 = setting.request(vector, [UPLOADS[0], UPLOADS[2]], holders=["owner", "plant-2"])
    for n in ("owner", "plant-2"):
        holders[n].answer(r1, raw1)
    r2, raw2 = setting.request(vector, UPLOADS, holders=["plant-1", "plant-2"])
    with pytest.raises(PolicyError, match="5 rows of plant-1"):
        holders["plant-1"].answer(r2, raw2, known=[r1])
    forged = SigningKey().sign(r1["payload"])
    with pytest.raises(SignatureError):
        holders["plant-1"].answer(*setting.request(vector, holders=["plant-1", "plant-2"]),
                                  known=[forged])
    for log in logs:
        log.close()
