"""A holder's policy: minimum rows, differencing against what it answered, per site for a site
holder, in all and per site for the owner or a guardian."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hedge.ckks.multiparty import Flooding
from hedge.errors import ParameterError
from hedge.holder import HolderPolicy
from hedge.holder.policy import Answered
from hedge.wire.requests import CoDecryptionRequest, Coverage

A1, A2, B1 = Coverage(1, "a", 400), Coverage(2, "a", 5), Coverage(3, "b", 300)


def request(*uploads: Coverage, kind: str = "model") -> CoDecryptionRequest:
    return CoDecryptionRequest.new(
        consortium="f" * 32, job="j", kind=kind, digests=["0" * 64], uploads=list(uploads),
        recipient="owner", recipient_key=X25519PrivateKey.generate().public_key(),
        flooding=Flooding())


def test_a_site_holder_protects_its_own_rows_and_no_one_elses() -> None:
    earlier = [Answered("r1", "model", (A1, A2, B1))]
    assert "5 rows of a" in HolderPolicy(site="a").refusal(request(A1, B1), earlier)
    assert HolderPolicy(site="b").refusal(request(A1, B1), earlier) is None
    # the owner or a guardian protects every site, and the whole
    assert "5 rows of a" in HolderPolicy().refusal(request(A1, B1), earlier)
    big = Coverage(4, "b", 10)
    guardian = HolderPolicy(min_difference=30).refusal(request(A1, A2, B1, Coverage(5, "a", 40),
                                                               big), earlier)
    assert guardian is not None and "10 rows of b" in guardian
    # the same uploads again, or enough more, are no difference
    assert HolderPolicy(site="a").refusal(request(A1, A2, B1), earlier) is None
    assert HolderPolicy(site="a").refusal(request(A1, A2, B1, Coverage(6, "a", 20)),
                                          earlier) is None


def test_minimum_rows_in_all_and_of_a_site_and_the_kinds() -> None:
    assert "covers 19 rows" in HolderPolicy().refusal(request(Coverage(1, "a", 19)), [])
    assert "5 rows of a" in HolderPolicy(site="a").refusal(request(A2, B1), [])
    assert HolderPolicy(site="a").refusal(request(B1), []) is None  # none of a's rows
    assert "aggregate" in HolderPolicy(kinds=("model",)).refusal(
        request(A1, kind="aggregate"), [])


def test_evaluations_over_the_same_uploads_are_few() -> None:
    done = [Answered(f"e{i}", "evaluation", (A1, B1)) for i in range(3)]
    assert "at most 3" in HolderPolicy(max_evaluations=3).refusal(
        request(A1, B1, kind="evaluation"), done)
    assert HolderPolicy(max_evaluations=4).refusal(request(A1, B1, kind="evaluation"),
                                                   done) is None
    assert HolderPolicy(max_evaluations=3).refusal(request(A1, B1), done) is None  # a model


@pytest.mark.parametrize("bad", [{"kinds": ()}, {"kinds": ("refresh",)}, {"min_rows": 0},
                                 {"min_difference": 0}, {"approval": "maybe"},
                                 {"max_evaluations": 0}, {"min_error_bound": 0.0}])
def test_a_policy_out_of_range_is_refused(bad: dict) -> None:
    with pytest.raises(ParameterError):
        HolderPolicy(**bad)
