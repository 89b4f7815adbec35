"""A key holder's keystore: its secret share, in the engine's keystore format.

The share is the holder's n-of-n secret s_i (a `KeyShare`) or, after the consortium dealt its
key t-of-n (`hedge.ckks.multiparty.threshold`), its point S_j (a `ThresholdShare`) with the
threshold t: `thresholdized` makes the second from the points every holder dealt to it, and the
holder's s_i is not kept then (any t points decrypt; fewer say nothing of s).

The share is sealed like a single-key keystore (scrypt + AES-256-GCM, `hedge.ckks._keystore`);
its public header names the holder, the consortium's key fingerprint and the holders, so that
`KeySet.load` recognises it and says what it is instead of opening it as a key set. The
collective bundle is public and kept beside it. The store also counts the holder's
co-decryptions against the budget its flooding is sized for.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from hedge.ckks import _keystore, container
from hedge.ckks._engine import engine_for
from hedge.ckks.fields import Fields
from hedge.ckks.multiparty.decryption import DEFAULT_MAX_DECRYPTIONS
from hedge.ckks.multiparty.keygen import KeyShare
from hedge.ckks.multiparty.ring import ring_for
from hedge.ckks.multiparty.threshold import ThresholdShare
from hedge.ckks.params import Parameters
from hedge.errors import CorruptDataError, ParameterError, PolicyError
from hedge.files import write_atomic

__all__ = ["SHARE_MARK", "HolderKeys"]

#: Header field that marks a keystore as a holder's share (`KeySet.load` refuses it by it).
SHARE_MARK = "key_share_of"
_TAG_SHARE, _TAG_POINT = 10, 11
_MAX_HOLDERS = 64


@dataclass
class HolderKeys:
    """One holder's share of a consortium's key, with the consortium's facts."""

    holder: str
    share: KeyShare | ThresholdShare
    fingerprint: str
    holders: tuple[str, ...]
    max_decryptions: int = DEFAULT_MAX_DECRYPTIONS
    decryptions_used: int = 0
    #: t of a t-of-n sharing (the share is then a `ThresholdShare`); None: n-of-n
    threshold: int | None = None

    def __post_init__(self) -> None:
        if self.holder not in self.holders or len(set(self.holders)) != len(self.holders):
            raise ParameterError(f"holder {self.holder!r} must be one of distinct holders "
                                 f"{list(self.holders)}")
        if not 0 <= self.decryptions_used <= self.max_decryptions:
            raise ParameterError("decryptions used must lie within the budget")
        if isinstance(self.share, ThresholdShare):
            fits = self.threshold is not None and 1 <= self.threshold <= len(
                self.holders) and self.share.index == self.holders.index(self.holder)
        else:
            fits = self.threshold is None
        if not fits:
            raise ParameterError("a t-of-n share needs its threshold (1 <= t <= holders) and "
                                 "the holder's own index; an n-of-n share neither")

    def thresholdized(self, received: Sequence[np.ndarray], threshold: int) -> HolderKeys:
        """This holder's keys after a t-of-n dealing: the sum of the points every holder
        dealt to it (one from each, `threshold.deal`), its s_i dropped."""
        if self.threshold is not None or len(received) != len(self.holders):
            raise ParameterError(f"a dealing gives an n-of-n holder one point from each of "
                                 f"the {len(self.holders)} holders")
        point = ThresholdShare.from_dealt(self.params, self.holders.index(self.holder),
                                          received)
        return replace(self, share=point, threshold=threshold)

    def decryption_key(self, active: Sequence[str]) -> KeyShare | ThresholdShare:
        """What decrypts with the holders `active`: the n-of-n share (`active` all holders),
        or the point weighted for exactly t of them, this holder among them
        (`ParameterError` otherwise)."""
        if self.threshold is None:
            if sorted(active) != sorted(self.holders):
                raise ParameterError(f"an n-of-n decryption needs every holder "
                                     f"{list(self.holders)}, not {list(active)}")
            return self.share
        unknown = sorted(set(active) - set(self.holders))
        if unknown:
            raise ParameterError(f"not holders of this key: {', '.join(unknown)}")
        assert isinstance(self.share, ThresholdShare)
        return self.share.for_set([self.holders.index(h) for h in active], self.threshold)

    @property
    def params(self) -> Parameters:
        return self.share.params

    @property
    def budget(self) -> int:
        """Co-decryptions this holder takes part in: `max_decryptions` (Q, what the flooding
        is sized for) for an n-of-n key; Q t / n for a key dealt t-of-n, since each
        decryption then takes t of the n holders' budgets, so that no recipient gets more than
        Q in all."""
        if self.threshold is None:
            return self.max_decryptions
        return max(1, self.max_decryptions * self.threshold // len(self.holders))

    def spend(self) -> None:
        """Count one co-decryption; `PolicyError` once the budget is spent (save after)."""
        if self.decryptions_used >= self.budget:
            raise PolicyError(f"holder {self.holder} has given all {self.budget} "
                              "co-decryptions its flooding is sized for; the consortium needs "
                              "new keys")
        self.decryptions_used += 1

    def save(self, path: str | os.PathLike[str], *, passphrase: str) -> None:
        """Write the sealed keystore atomically."""
        if isinstance(self.share, ThresholdShare):
            record = (_TAG_POINT, np.ascontiguousarray(self.share.point, dtype="<u8").tobytes())
        else:
            record = (_TAG_SHARE, bytes(self.share.secret_key.to_string()))
        inner = container.to_bytes(
            container.Kind.KEYSTORE,
            {"holder": self.holder, "holders": list(self.holders),
             "max_decryptions": self.max_decryptions,
             "decryptions_used": self.decryptions_used, "threshold": self.threshold},
            [record])
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
        threshold = content.integer("threshold", 1, _MAX_HOLDERS, None, nullable=True)
        tag = _TAG_SHARE if threshold is None else _TAG_POINT
        if [t for t, _ in records] != [tag] or outer.string(SHARE_MARK,
                                                           max_length=128) != holder:
            raise CorruptDataError(f"{path} is no key holder's keystore")
        share: KeyShare | ThresholdShare
        try:
            if threshold is None:
                share = KeyShare(params, engine_for(params).context.from_secret_str(
                    records[0][1]))
            else:
                share = _point(params, holders.index(holder) if holder in holders else -1,
                               records[0][1])
        except container.SEAL_LOAD_ERRORS as exc:
            raise CorruptDataError(f"{path}: the key share is malformed: {exc}") from exc
        try:
            return cls(holder, share, outer.string("fingerprint", max_length=64), holders,
                       budget, used, threshold)
        except ParameterError as exc:
            raise CorruptDataError(f"{path} is malformed: {exc}") from exc


def _point(params: Parameters, index: int, raw: bytes) -> ThresholdShare:
    """A stored point: key primes x N residues, each below its prime."""
    ring = ring_for(params)
    shape = (len(ring.key_primes), ring.n)
    if len(raw) != 8 * shape[0] * shape[1]:
        raise CorruptDataError("a holder's point has the wrong size for its parameters")
    point = np.frombuffer(raw, dtype="<u8").reshape(shape).astype(np.uint64)
    if bool((point >= ring.key_column).any()):
        raise CorruptDataError("a holder's point holds residues at or above their primes")
    return ThresholdShare(params, index, point)
