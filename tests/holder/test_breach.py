"""Breach drill, threshold mode: each holder's files alone, and the cloud's whole dump of a
co-decryption alone, decrypt nothing (docs/security.md, "Threshold keys")."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hedge.ckks.multiparty import HolderKeys, combine, decryption_share
from hedge.errors import CorruptDataError
from hedge.wire.shares import ShareContext, ciphertext_digest, open_share
from tests.holder.conftest import FAST, NAMES, Setting

SLOTS = FAST.slot_count


def test_each_holders_files_alone_decrypt_nothing(setting: Setting) -> None:
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2, SLOTS)
    secret = setting.consortium.bundle.encrypt(bits - 0.5)  # a site's rows, at the cloud
    values = rng.uniform(-1, 1, 9)
    message, raw = setting.request(setting.consortium.bundle.encrypt(values))
    for holder in setting.holders.values():
        holder.answer(message, raw)
    for name in NAMES:
        files = sorted(p for p in (setting.root / name).rglob("*") if p.is_file())
        assert {p.name for p in files} == {"share.keystore", "audit.jsonl"}
        text = (setting.root / name / "audit.jsonl").read_text()
        assert not [v for v in values if f"{v:.4f}" in text]  # no value in the audit log
        # the thief has the keystore and its passphrase: one share, c0 + c1 s_i, is noise
        keys = HolderKeys.load(setting.root / name / "share.keystore",
                               passphrase=f"pass-{name}")
        ct = secret.ciphertexts[0]
        got = combine(FAST, ct, [decryption_share(keys.share, name, ct, 1.0)], [name])
        assert 0.45 < np.mean((got > 0) == (bits == 1)) < 0.55
        assert np.median(np.abs(got)) > 1e3


def test_the_clouds_dump_of_a_co_decryption_decrypts_nothing(setting: Setting,
                                                              tmp_path: Path) -> None:
    values = np.random.default_rng(8).uniform(-1, 1, 9)
    message, raw = setting.request(setting.consortium.bundle.encrypt(values))
    answers = {n: h.answer(message, raw) for n, h in setting.holders.items()}
    # what the cloud relayed: the request, the ciphertexts and every sealed share
    dump = json.dumps(message).encode() + b"".join(raw) + b"".join(
        s for a in answers.values() for s in a.values())
    for v in values:
        assert f"{v:.4f}".encode() not in dump
        assert np.float64(v).tobytes() not in dump
    # and no key it holds opens a share: it is no recipient (its own X25519 key fails)
    digest = ciphertext_digest(setting.consortium.bundle.engine.context.from_cipher_str(raw[0]))
    context = ShareContext(message["payload"]["request"], digest, "owner")
    for answer in answers.values():
        with pytest.raises(CorruptDataError, match="does not open"):
            open_share(answer[digest], context, X25519PrivateKey.generate(), setting.verify, FAST)
