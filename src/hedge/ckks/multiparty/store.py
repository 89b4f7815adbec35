"""A key holder's keystore: its secret share, in the engine's keystore format.

The share is sealed like a single-key keystore (scrypt + AES-256-GCM, `hedge.ckks._keystore`);
its public header names the holder, the consortium's key fingerprint and the holders, so that
`KeySet.load` recognises it and says what it is instead of opening it as a key set. The
collective bundle is public and kept beside it. The store also counts the holder's
co-decryptions against the budget its flooding is sized for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hedge.ckks import _keystore, container
from hedge.ckks._engine import engine_for
from hedge.ckks.fields import Fields
from hedge.ckks.multiparty.decryption import DEFAULT_MAX_DECRYPTIONS
from hedge.ckks.multiparty.keygen import KeyShare
from hedge.ckks.params import Parameters
from hedge.errors import CorruptDataError, ParameterError, PolicyError
from hedge.files import write_atomic

__all__ = ["SHARE_MARK", "HolderKeys"]

#: Header field that marks a keystore as a holder's share (`KeySet.load` refuses it by it).
SHARE_MARK = "key_share_of"
_TAG_SHARE = 10
_MAX_HOLDERS = 64


@dataclass
class HolderKeys:
    """One holder's share of a consortium's key, with the consortium's facts."""

    holder: str
    share: KeyShare
    fingerprint: str
    holders: tuple[str, ...]
    max_decryptions: int = DEFAULT_MAX_DECRYPTIONS
    decryptions_used: int = 0

    def __post_init__(self) -> None:
        if self.holder not in self.holders or len(set(self.holders)) != len(self.holders):
            raise ParameterError(f"holder {self.holder!r} must be one of distinct holders "
                                 f"{list(self.holders)}")
        if not 0 <= self.decryptions_used <= self.max_decryptions:
            raise ParameterError("decryptions used must lie within the budget")

    @property
    def params(self) -> Parameters:
        return self.share.params

    def spend(self) -> None:
        """Count one co-decryption; `PolicyError` once the budget is spent (save after)."""
        if self.decryptions_used >= self.max_decryptions:
            raise PolicyError(f"holder {self.holder} has given all {self.max_decryptions} "
                              "co-decryptions its flooding is sized for; the consortium needs "
                              "new keys")
        self.decryptions_used += 1

    def save(self, path: str | os.PathLike[str], *, passphrase: str) -> None:
        """Write the sealed keystore atomically."""
        inner = container.to_bytes(
            container.Kind.KEYSTORE,
            {"holder": self.holder, "holders": list(self.holders),
             "max_decryptions": self.max_decryptions,
             "decryptions_used": self.decryptions_used},
            [(_TAG_SHARE, bytes(self.share.secret_key.to_string()))])
        header = {"param_id": self.params.param_id, "params": self.params.to_dict(),
                  "fingerprint": self.fingerprint, SHARE_MARK: self.holder}
        write_atomic(path, _keystore.seal_payload(inner, passphrase, header))

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, passphrase: str) -> HolderKeys:
        """Open a holder's keystore (`WrongPassphraseError`, `CorruptDataError`)."""
        fields, inner = _keystore.open_payload(Path(path).read_bytes(), passphrase)
        outer = Fields(fields, "keystore header")
        params = outer.parameters()
        head, records = container.from_bytes(inner, container.Kind.KEYSTORE)
        content = Fields(head.fields, "key share")
        holder = content.string("holder", max_length=128)
        holders = tuple(content.strings("holders", max_items=_MAX_HOLDERS, max_length=128))
        budget = content.integer("max_decryptions", 1, 1 << 40)
        used = content.integer("decryptions_used", 0, budget)
        if [t for t, _ in records] != [_TAG_SHARE] or outer.string(SHARE_MARK,
                                                                  max_length=128) != holder:
            raise CorruptDataError(f"{path} is no key holder's keystore")
        try:
            secret = engine_for(params).context.from_secret_str(records[0][1])
        except container.SEAL_LOAD_ERRORS as exc:
            raise CorruptDataError(f"{path}: the key share is malformed: {exc}") from exc
        try:
            return cls(holder, KeyShare(params, secret),
                       outer.string("fingerprint", max_length=64), holders, budget, used)
        except ParameterError as exc:
            raise CorruptDataError(f"{path} is malformed: {exc}") from exc
