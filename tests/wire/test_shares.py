"""Decryption shares on the wire: only the recipient opens them, only holders sign them, and a
share for another request or ciphertext is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from hedge.ckks import preset
from hedge.ckks.multiparty import KeyShare, combine, decryption_share
from hedge.ckks.multiparty.local import LocalConsortium
from hedge.errors import CorruptDataError, KeyMismatchError, SignatureError
from hedge.wire.shares import _SUITE, ShareContext, ciphertext_digest, open_share, seal_share
from hedge.wire.signing import SigningKey

FAST = preset("fast")
HOLDERS = ("owner", "plant-1")


@pytest.fixture(scope="module")
def setting() -> dict:
    consortium = LocalConsortium.generate(FAST, HOLDERS, rotations=[1])
    ct = consortium.bundle.encrypt([0.25, -0.5]).ciphertexts[0]
    signing = {h: SigningKey() for h in HOLDERS}
    recipient = X25519PrivateKey.generate()
    context = ShareContext("job-7/model", ciphertext_digest(ct), "owner")
    sealed = {h: seal_share(decryption_share(consortium.shares[h], h, ct, 1.0), context,
                            signing[h], recipient.public_key()) for h in HOLDERS}
    return {"consortium": consortium, "ct": ct, "signing": signing, "recipient": recipient,
            "context": context, "sealed": sealed,
            "verify": {h: k.verify_key for h, k in signing.items()}}


def test_the_recipient_opens_checks_and_combines(setting: dict) -> None:
    shares = [open_share(setting["sealed"][h], setting["context"], setting["recipient"],
                         setting["verify"], FAST) for h in HOLDERS]
    assert [s.holder for s in shares] == list(HOLDERS)
    values = combine(FAST, setting["ct"], shares, HOLDERS)
    assert np.allclose(values[:2], [0.25, -0.5], atol=1e-6)


def test_the_relaying_cloud_cannot_open_a_share(setting: dict) -> None:
    cloud = X25519PrivateKey.generate()
    with pytest.raises(CorruptDataError, match="does not open"):
        open_share(setting["sealed"]["owner"], setting["context"], cloud, setting["verify"],
                   FAST)


def test_replayed_altered_and_foreign_shares_are_refused(setting: dict) -> None:
    sealed, ctx, key = setting["sealed"]["plant-1"], setting["context"], setting["recipient"]
    for other in (ShareContext("job-8/model", ctx.digest, ctx.recipient),
                  ShareContext(ctx.request, "0" * 64, ctx.recipient),
                  ShareContext(ctx.request, ctx.digest, "plant-1")):
        with pytest.raises(CorruptDataError, match="does not open"):
            open_share(sealed, other, key, setting["verify"], FAST)
    altered = bytearray(sealed)
    altered[len(altered) // 2] ^= 1
    with pytest.raises(CorruptDataError):
        open_share(bytes(altered), ctx, key, setting["verify"], FAST)
    with pytest.raises(KeyMismatchError, match="not a key holder"):
        open_share(sealed, ctx, key, {"owner": setting["verify"]["owner"]}, FAST)
    # a share signed by another key than its holder's
    impostor = seal_share(decryption_share(KeyShare.generate(FAST), "plant-1", setting["ct"],
                                           1.0), ctx, SigningKey(), key.public_key())
    with pytest.raises(SignatureError, match="does not verify"):
        open_share(impostor, ctx, key, setting["verify"], FAST)
    with pytest.raises(CorruptDataError, match="at most"):
        open_share(sealed + bytes(FAST.poly_modulus_degree * 40), ctx, key, setting["verify"],
                   FAST)


@given(data=st.binary(max_size=300))
def test_hostile_bytes_give_corrupt_data_error(setting: dict, data: bytes) -> None:
    with pytest.raises(CorruptDataError):
        open_share(data, setting["context"], setting["recipient"], setting["verify"], FAST)


@pytest.mark.parametrize("message", [{"payload": [1]}, {"payload": "x"}, [1, 2], "text"])
def test_a_sealed_header_that_is_no_signed_object_is_refused(setting: dict,
                                                             message: object) -> None:
    head = json.dumps(message).encode()
    sealed = _SUITE.encrypt(len(head).to_bytes(4, "little") + head,
                            setting["recipient"].public_key(), setting["context"].info())
    with pytest.raises(KeyMismatchError, match="not a key holder"):
        open_share(sealed, setting["context"], setting["recipient"], setting["verify"], FAST)
