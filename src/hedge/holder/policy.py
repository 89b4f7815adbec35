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
* the request's noise is sized for at least `min_error_bound` per value (default the
  single-key release's bound, 2^-16): a smaller bound would flood too little;
* at most `max_evaluations` evaluations over the same uploads (each evaluation's model is the
  owner's choice, and a sweep of steep models reads rows off the counts: the cloud's
  `too_many_evaluations` again);
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

from hedge.ckks.multiparty.decryption import ERROR_BOUND_RANGE
from hedge.ckks.release import DEFAULT_ERROR_BOUND
from hedge.errors import ParameterError
from hedge.wire.requests import KINDS, CoDecryptionRequest, Coverage

__all__ = ["Answered", "HolderPolicy"]


@dataclass(frozen=True)
class Answered:
    """A request answered before (by this holder, or by others as the cloud records it)."""

    request: str
    kind: str
    uploads: tuple[Coverage, ...]


@dataclass(frozen=True)
class HolderPolicy:
    """The rules above; `refusal` says why a request breaks one, or None."""

    site: str | None = None
    kinds: tuple[str, ...] = KINDS
    min_rows: int = 20
    min_difference: int = 20
    approval: str = "auto"
    min_error_bound: float = DEFAULT_ERROR_BOUND
    max_evaluations: int = 8

    def __post_init__(self) -> None:
        if not set(self.kinds) <= set(KINDS) or not self.kinds:
            raise ParameterError(f"a holder answers kinds among {list(KINDS)}, not "
                                 f"{list(self.kinds)}")
        if self.min_rows < 1 or self.min_difference < 1 or self.max_evaluations < 1:
            raise ParameterError("min_rows, min_difference and max_evaluations must be at "
                                 "least 1")
        if not ERROR_BOUND_RANGE[0] <= self.min_error_bound <= ERROR_BOUND_RANGE[1]:
            raise ParameterError("min_error_bound must lie in [2^-40, 2^10]")
        if self.approval not in ("auto", "operator"):
            raise ParameterError(f"approval is 'auto' or 'operator', not {self.approval!r}")

    def _protected(self, uploads: Iterable[Coverage]) -> list[str]:
        return [self.site] if self.site is not None else sorted({u.site for u in uploads})

    def refusal(self, request: CoDecryptionRequest,
                earlier: Iterable[Answered]) -> str | None:
        """Why `request` is refused under this policy, given the `earlier` requests answered,
        or None."""
        earlier = list(earlier)
        return (self._by_itself(request) or self._evaluations(request, earlier)
                or self._difference(request, earlier))

    def _by_itself(self, request: CoDecryptionRequest) -> str | None:
        """Its kind, its noise, its rows."""
        if request.kind not in self.kinds:
            return f"this holder does not co-decrypt {request.kind} results"
        if request.error_bound < self.min_error_bound:
            return (f"its noise is sized for an error bound of {request.error_bound:.3g} per "
                    f"value; this holder floods for at least {self.min_error_bound:.3g}")
        if request.rows < self.min_rows:
            return (f"the result covers {request.rows} rows; this holder co-decrypts results "
                    f"of at least {self.min_rows}")
        for site in self._protected(request.uploads):
            rows = sum(u.rows for u in request.uploads if u.site == site)
            if 0 < rows < self.min_rows:
                return (f"the result covers {rows} rows of {site}; this holder co-decrypts "
                        f"none or at least {self.min_rows} of a site")
        return None

    def _evaluations(self, request: CoDecryptionRequest,
                     earlier: list[Answered]) -> str | None:
        same = {u.upload for u in request.uploads}
        evaluations = [e.request for e in earlier if e.kind == "evaluation"
                       and {u.upload for u in e.uploads} == same]
        if request.kind == "evaluation" and len(evaluations) >= self.max_evaluations:
            return (f"{len(evaluations)} evaluations over these uploads were answered before; "
                    f"this holder answers at most {self.max_evaluations} (the counts of models "
                    "chosen for them could be read back to rows): evaluate on other uploads")
        return None

    def _difference(self, request: CoDecryptionRequest,
                    earlier: list[Answered]) -> str | None:
        mine = {u.upload: u for u in request.uploads}
        for done in earlier:
            theirs = {u.upload: u for u in done.uploads}
            differ = [mine.get(i) or theirs[i] for i in sorted(mine.keys() ^ theirs.keys())]
            groups = {f"of {site}": [u for u in differ if u.site == site]
                      for site in self._protected(differ)}
            if self.site is None:
                groups["in all"] = differ
            for where, part in groups.items():
                rows = sum(u.rows for u in part)
                if 0 < rows < self.min_difference:
                    return (f"its uploads differ from those of request {done.request} in "
                            f"{rows} rows {where} (uploads {[u.upload for u in part]}): the "
                            "two results would give those rows by subtraction; this holder "
                            "answers no request that differs from an earlier one by fewer "
                            f"than {self.min_difference}. Name the same uploads, or enough more")
        return None
