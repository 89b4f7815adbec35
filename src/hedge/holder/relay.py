"""Co-decryption through the cloud: a holder answers what waits for it, the recipient posts a
request and collects the answers (`hedge.cloud.routes_codecrypt` relays both).

A holder behind a factory firewall opens no port: `answer_pending` pulls the requests that
name it, answers each by its `Holder` (its policy, its budget, its audit log) and puts the
answer, or its refusal with the reason, back. An operator's approval names the request a person
looked at (`approved`, by request id); a holder whose policy asks for one leaves the others
waiting.

`co_decrypt` is the recipient's side: it posts the request package, waits for every holder the
request names (polling, up to `timeout` seconds), stops at the first refusal with its reason,
and combines the shares once all are in (`combine_answers`); on timeout it names the holders
that have not answered, and the request stays posted for them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import seal
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hedge.ckks.params import Parameters
from hedge.errors import (
    ApprovalPendingError,
    CorruptDataError,
    PolicyError,
)
from hedge.holder.holder import REFUSALS, Holder, refusal_reason
from hedge.holder.recipient import combine_answers
from hedge.wire.cloud_client import CloudClient
from hedge.wire.relay import Answer, RequestPackage
from hedge.wire.requests import CoDecryptionRequest
from hedge.wire.signing import VerifyKey

__all__ = ["answer_pending", "co_decrypt"]


def answer_pending(client: CloudClient, cid: int, holder: Holder, *,
                   approved: Mapping[str, str] | None = None) -> dict[str, str]:
    """Answer every request waiting for `holder` at the cloud: {request id: "answered",
    "refused: <reason>" or "awaiting approval"}. `approved`: the requests an operator of the
    holder approved, by id, each with who approved it (a policy with ``approval =
    "operator"`` answers those alone). A refusal is put back as the holder's answer (final),
    also for a package or request that is not what it claims, so that one bad request blocks
    no other; a request awaiting approval stays pending. The differencing compares against
    the requests the cloud records as answered by any holder, as well as the holder's own
    log. The cloud being away raises `CloudUnavailableError`: nothing is lost, call again."""
    approved = approved or {}
    outcomes = {}
    pending = client.pending_codecryptions(cid)
    known = client.answered_codecryptions(cid) if pending else []
    for rid in pending:
        try:
            package = RequestPackage.from_bytes(client.codecryption_package(cid, rid))
            if package.request_id != rid:
                raise CorruptDataError(f"the cloud relayed another request's package as {rid}")
            shares = holder.answer(package.message, package.ciphertexts,
                                   approved_by=approved.get(rid), known=known)
            answer, outcomes[rid] = Answer(rid, holder.name, shares), "answered"
        except ApprovalPendingError:
            outcomes[rid] = "awaiting approval"
            continue
        except REFUSALS as exc:
            reason = refusal_reason(exc)
            answer, outcomes[rid] = Answer(rid, holder.name, {}, reason), f"refused: {reason}"
        client.answer_codecryption(cid, rid, holder.name, answer.to_bytes())
    return outcomes


def co_decrypt(client: CloudClient, cid: int, message: dict[str, object],
               ciphertexts: Sequence[seal.Ciphertext], params: Parameters,
               recipient_key: X25519PrivateKey, holders: Mapping[str, VerifyKey], *,
               timeout: float = 600.0, poll: float = 2.0,
               sleep: Callable[[float], None] = time.sleep,
               clock: Callable[[], float] = time.monotonic) -> list[np.ndarray]:
    """Post the signed request `message` for `ciphertexts` and return their decrypted slot
    values once every holder it names has answered. `PolicyError` naming the holders that
    refused (and why) or, after `timeout` seconds, the holders still missing; the answers' own
    errors as `combine_answers` raises them."""
    raw = [bytes(c.to_string()) for c in ciphertexts]
    package = RequestPackage(dict(message), raw)
    rid = package.request_id
    client.post_codecryption(cid, package.to_bytes())
    deadline = clock() + timeout
    while True:
        state = client.codecryption(cid, rid)
        refused = state.get("refused") or {}
        if refused:
            raise PolicyError(f"co-decryption request {rid} was refused by " + "; ".join(
                f"{holder} ({reason})" for holder, reason in sorted(refused.items())))
        missing = state.get("missing")
        if missing == []:
            break
        if clock() >= deadline:
            raise PolicyError(f"waited {timeout:.0f} s for co-decryption request {rid}; not "
                              f"answered yet: {', '.join(map(str, missing or []))}. The request "
                              "stays posted: wait for them, or ask them")
        sleep(poll)
    answers = {}
    for holder in state["answered"]:
        got = Answer.from_bytes(client.codecryption_answer(cid, rid, holder))
        if got.holder != holder or got.request != rid:
            raise CorruptDataError(f"the cloud relayed another answer as {holder}'s to {rid}")
        answers[holder] = got.shares
    request = CoDecryptionRequest.from_payload(message.get("payload"))
    return combine_answers(params, request, ciphertexts, answers, recipient_key, holders)
