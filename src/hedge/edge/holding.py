"""A site as key holder (threshold mode): the edge agent answers the co-decryption requests
that wait for it at the cloud, every cycle, by pulling them (no inbound port).

The ``[holder]`` section of edge.toml (paths relative to the file)::

    [holder]
    keystore = "holder/share.keystore"     # the site's key share (HolderKeys)
    signing_key = "holder/signing.pem"     # its Ed25519 key: every share it sends is signed
    audit = "holder/audit.jsonl"           # every decision, answer or refusal
    passphrase_env = "HEDGE_HOLDER_PASSPHRASE"  # names the variable holding the passphrase
    approval = "auto"                      # or "operator": only requests listed in approvals
    approvals = "holder/approvals.toml"    # request id = "who approved it", edited by a person
    min_rows = 20
    min_difference = 20
    max_evaluations = 8

The passphrase of the keystore and the signing key is never in the file: the agent reads it
from the environment variable the section names. The policy is `hedge.holder.HolderPolicy`
protecting the site's own rows (`site` is the enrolment's). With ``approval = "operator"``,
a request is answered once its id is in the approvals file (re-read every cycle); the others
wait at the cloud. `hedge edge requests` lists what waits, with what each would release and
over whose rows; `hedge edge approve ID --by NAME` records an approval.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hedge.audit import AuditLog
from hedge.errors import ParameterError, SchemaError
from hedge.files import write_atomic
from hedge.holder import Holder, HolderPolicy, answer_pending
from hedge.wire.cloud_client import CloudClient
from hedge.wire.relay import RequestPackage
from hedge.wire.requests import CoDecryptionRequest, is_request_id
from hedge.wire.signing import SigningKey, VerifyKey

__all__ = ["HolderDuty", "HolderSettings", "approve", "parse_holder", "pending_requests",
           "read_approvals"]

_PATHS = ("keystore", "signing_key", "audit")


@dataclass(frozen=True)
class HolderSettings:
    """The ``[holder]`` section, checked."""

    keystore: Path
    signing_key: Path
    audit: Path
    passphrase_env: str
    approvals: Path | None
    policy: dict[str, Any]


def parse_holder(raw: Any, base: Path, file: str) -> HolderSettings | None:
    """The section (None if absent); `SchemaError` naming the file and field otherwise."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise SchemaError(f"{file}: [holder] must be a table")
    for name in _PATHS:
        if not isinstance(raw.get(name), str) or not raw[name]:
            raise SchemaError(f"{file}: [holder] {name} must name a path")
    unknown = sorted(set(raw) - {*_PATHS, "passphrase_env", "approvals", "approval",
                                 "min_rows", "min_difference", "max_evaluations"})
    if unknown:
        raise SchemaError(f"{file}: [holder] has no setting {unknown[0]!r}")
    policy = {k: raw[k] for k in ("approval", "min_rows", "min_difference", "max_evaluations")
              if k in raw}
    if any(isinstance(v, bool) or not isinstance(v, int) for k, v in policy.items()
           if k != "approval"):
        raise SchemaError(f"{file}: [holder] min_rows, min_difference and max_evaluations "
                          "are whole numbers")
    try:
        HolderPolicy(**policy)
    except (ParameterError, TypeError) as exc:
        raise SchemaError(f"{file}: [holder] {exc}") from exc
    env = raw.get("passphrase_env", "HEDGE_HOLDER_PASSPHRASE")
    approvals = raw.get("approvals")
    if not isinstance(env, str) or not env or not (approvals is None
                                                  or isinstance(approvals, str)):
        raise SchemaError(f"{file}: [holder] passphrase_env names a variable, approvals a path")
    return HolderSettings(base / raw["keystore"], base / raw["signing_key"], base / raw["audit"],
                          env, None if approvals is None else base / approvals, policy)


class HolderDuty:
    """The site's `Holder` over the settings, and one cycle of answers."""

    def __init__(self, settings: HolderSettings, site: str, owner: VerifyKey) -> None:
        passphrase = os.environ.get(settings.passphrase_env)
        if not passphrase:
            raise SchemaError(f"[holder]: the environment variable {settings.passphrase_env} "
                              "holds no passphrase for the site's key share; set it")
        self.settings = settings
        self.audit = AuditLog(settings.audit)
        try:
            self.holder = Holder(settings.keystore, passphrase,
                                 SigningKey.load(settings.signing_key, passphrase=passphrase),
                                 owner, HolderPolicy(site=site, **settings.policy), self.audit)
        except BaseException:
            self.audit.close()
            raise
        if self.holder.name != site:
            self.audit.close()
            raise SchemaError(f"{settings.keystore} is the key share of {self.holder.name}, "
                              f"not of this site ({site}); use the site's own")

    def close(self) -> None:
        self.audit.close()

    def approvals(self) -> dict[str, str]:
        return read_approvals(self.settings)

    def answer(self, client: CloudClient, consortium: int) -> dict[str, str]:
        """Answer what waits at the cloud (`hedge.holder.answer_pending`)."""
        return answer_pending(client, consortium, self.holder, approved=self.approvals())


def read_approvals(settings: HolderSettings) -> dict[str, str]:
    """The approvals file: request id = who approved it (none if absent)."""
    path = settings.approvals
    if path is None or not path.exists():
        return {}
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SchemaError(f"{path} is no readable approvals file: {exc}") from exc
    if not all(isinstance(v, str) and v for v in raw.values()):
        raise SchemaError(f"{path}: each approval is request-id = \"who approved it\"")
    return dict(raw)


def approve(settings: HolderSettings, request: str, by: str) -> None:
    """Record in the approvals file that `by` approved `request` (the agent's next cycle
    answers it, by the policy's other rules)."""
    path = settings.approvals
    if path is None:
        raise SchemaError("[holder] names no approvals file; add approvals = \"PATH\"")
    if not is_request_id(request) or not by:
        raise ParameterError("an approval names a request id (32 hex digits) and who "
                             "approves it")
    approvals = read_approvals(settings) | {request: by}
    write_atomic(path, "".join(f"{rid} = {json.dumps(who)}\n"
                               for rid, who in sorted(approvals.items())).encode())


def pending_requests(client: CloudClient, consortium: int,
                     owner: VerifyKey) -> list[CoDecryptionRequest]:
    """The requests waiting for this site at the cloud, each verified under the owner's key
    (what an operator looks at before approving; `SignatureError` for one that does not)."""
    return [CoDecryptionRequest.verify(RequestPackage.from_bytes(
                client.codecryption_package(consortium, rid)).message, owner)
            for rid in client.pending_codecryptions(consortium)]
