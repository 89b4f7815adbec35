"""A key holder's own policy: which co-decryption requests it answers.

Each holder judges every request by itself, whatever the owner and the cloud decided, and
against its own record of what it answered before (its audit log, `hedge.audit`):

* the kind is one it answers (`kinds`);
* the result covers at least `min_rows` rows in all, and of each protected site either none
  or at least `min_rows` (a site holder protects its own uploads; the owner or a guardian,
  `site` None, protects every site);
* against every request it answered before, the uploads differ by none or at least
  `min_difference` rows of each protected site (and, for the owner or a guardian, in all):
  two results whose upload sets
  differ by a few rows give those rows' contribution by subtraction (the rule the cloud
  applies to jobs, `hedge.cloud.differencing`, applied again by the holders, who need not
  trust the cloud);
* the holder's co-decryption budget (`hedge.ckks.multiparty.HolderKeys`) covers the request's
  ciphertexts;
* with `approval` "operator", a person at the holder approved it (a site whose config says so);
  "auto" decides by these rules alone.

What the rules do not stop is what the cloud's do not either (docs/security.md): three or more
results combined, and an owner padding a result with rows it uploaded itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hedge.errors import ParameterError
from hedge.wire.requests import KINDS, CoDecryptionRequest, Coverage

__all__ = ["HolderPolicy"]


@dataclass(frozen=True)
class HolderPolicy:
    """The rules above; `refusal` says why a request breaks one, or None."""

    site: str | None = None
    kinds: tuple[str, ...] = KINDS
    min_rows: int = 20
    min_difference: int = 20
    approval: str = "auto"

    def __post_init__(self) -> None:
        if not set(self.kinds) <= set(KINDS) or not self.kinds:
            raise ParameterError(f"a holder answers kinds among {list(KINDS)}, not "
                                 f"{list(self.kinds)}")
        if self.min_rows < 1 or self.min_difference < 1:
            raise ParameterError("min_rows and min_difference must be at least 1")
        if self.approval not in ("auto", "operator"):
            raise ParameterError(f"approval is 'auto' or 'operator', not {self.approval!r}")

    def _protected(self, uploads: Iterable[Coverage]) -> list[str]:
        return [self.site] if self.site is not None else sorted({u.site for u in uploads})

    def refusal(self, request: CoDecryptionRequest,
                earlier: Iterable[tuple[str, list[Coverage]]]) -> str | None:
        """Why `request` is refused under this policy, given the `earlier` requests this
        holder answered (their ids and uploads), or None."""
        if request.kind not in self.kinds:
            return f"this holder does not co-decrypt {request.kind} results"
        if request.rows < self.min_rows:
            return (f"the result covers {request.rows} rows; this holder co-decrypts results "
                    f"of at least {self.min_rows}")
        for site in self._protected(request.uploads):
            rows = sum(u.rows for u in request.uploads if u.site == site)
            if 0 < rows < self.min_rows:
                return (f"the result covers {rows} rows of {site}; this holder co-decrypts "
                        f"none or at least {self.min_rows} of a site")
        mine = {u.upload: u for u in request.uploads}
        for other, covered in earlier:
            theirs = {u.upload: u for u in covered}
            differ = [mine.get(i) or theirs[i] for i in sorted(mine.keys() ^ theirs.keys())]
            groups = {f"of {site}": [u for u in differ if u.site == site]
                      for site in self._protected(differ)}
            if self.site is None:
                groups["in all"] = differ
            for where, part in groups.items():
                rows = sum(u.rows for u in part)
                if 0 < rows < self.min_difference:
                    return (f"its uploads differ from those of request {other} in {rows} rows "
                            f"{where} (uploads {[u.upload for u in part]}): the two results "
                            "would give those rows by subtraction; this holder answers no "
                            f"request that differs from an earlier one by fewer than "
                            f"{self.min_difference}. Name the same uploads, or enough more")
        return None
