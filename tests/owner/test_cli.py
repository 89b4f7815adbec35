"""`hedge owner` commands, invoked on the module's own Typer app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from hedge.ckks import KeySet
from hedge.cli.owner import app
from hedge.owner import AuditLog
from tests.owner.conftest import serve
from tests.test_audit import TAMPERINGS, _fill

runner = CliRunner()
TOKEN = "cli-token-0123456789abcdef"
WIDE = {"COLUMNS": "200"}


@pytest.mark.parametrize("args", [["--help"], ["key-service", "--help"], ["audit", "--help"]])
def test_help(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and "Usage" in result.output


def test_audit_lists_an_intact_log(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _fill(path, 3)
    result = runner.invoke(app, ["audit", "--audit", str(path)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "chain intact" in result.output and "3 entries" in result.output
    assert result.output.count("refresh") >= 3 and "job-2" in result.output


@pytest.mark.parametrize("kind", list(TAMPERINGS))
def test_audit_exits_1_on_tampering(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "audit.jsonl"
    _fill(path)
    tamper, line = TAMPERINGS[kind]
    tamper(path)
    result = runner.invoke(app, ["audit", "--audit", str(path)], env=WIDE)
    assert result.exit_code == 1
    assert f"line {line}" in result.output and "chain intact" not in result.output


def test_audit_of_a_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["audit", "--audit", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 1 and "does not exist" in result.output


@pytest.mark.parametrize(("token", "admin", "says"), [
    (None, None, "needs a token of at least 16 characters"),
    ("short-token", None, "needs a token of at least 16 characters"),
    ("a-long-enough-token", "short-token", "admin token must have at least 16 characters"),
    ("a-long-enough-token", "a-long-enough-token", "must differ from the refresh token")])
def test_key_service_refuses_to_start_without_sound_tokens(
        tmp_path: Path, token: str | None, admin: str | None, says: str) -> None:
    keystore = tmp_path / "keys.hedge"
    keystore.write_bytes(b"never read")  # refused before the passphrase is asked for
    args = ["key-service", "--keys", str(keystore), "--audit", str(tmp_path / "a.jsonl")]
    env = {"HEDGE_KEY_SERVICE_TOKEN": token} if token else {}
    env |= {"HEDGE_KEY_SERVICE_ADMIN_TOKEN": admin} if admin else {}
    result = runner.invoke(app, args, env={**env, "HEDGE_PASSPHRASE": "x"})
    assert result.exit_code == 1 and says in " ".join(result.output.split())
    assert not (tmp_path / "a.jsonl").exists()


def test_key_service_runs_the_service(tmp_path: Path, owner_keys: KeySet,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    keystore, audit = tmp_path / "keys.hedge", tmp_path / "audit.jsonl"
    owner_keys.save(keystore, passphrase="correct horse")
    served: dict[str, Any] = {}

    def fake_run(api: Any, **kwargs: Any) -> None:  # serve on a free port instead of 8765
        served.update(kwargs)
        with serve(api) as base:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            job = {"job_id": "cli-job", "length": 3, "columns": 4, "max_refreshes": 2}
            served["register"] = httpx.post(f"{base}/jobs", json=job, headers=auth).status_code
            served["audit"] = httpx.get(f"{base}/audit", headers=auth).json()

    monkeypatch.setattr(uvicorn, "run", fake_run)
    env = {"HEDGE_PASSPHRASE": "correct horse", "HEDGE_KEY_SERVICE_TOKEN": TOKEN}
    result = runner.invoke(app, ["key-service", "--keys", str(keystore), "--audit", str(audit),
                                 "--port", "9999"], env=env)
    assert result.exit_code == 0, result.output
    assert served["host"] == "127.0.0.1" and served["port"] == 9999
    assert served["register"] == 201 and served["audit"]["entries"] == 2
    with AuditLog(audit) as log:  # closed by the command: can be opened again
        assert [e.event for e in log.entries()] == ["start", "register"]


def test_key_service_wrong_passphrase(tmp_path: Path, owner_keys: KeySet) -> None:
    keystore = tmp_path / "keys.hedge"
    owner_keys.save(keystore, passphrase="right")
    env = {"HEDGE_PASSPHRASE": "wrong", "HEDGE_KEY_SERVICE_TOKEN": TOKEN}
    result = runner.invoke(app, ["key-service", "--keys", str(keystore), "--audit",
                                 str(tmp_path / "a.jsonl")], env=env)
    assert result.exit_code == 1 and "error" in result.output


@pytest.mark.parametrize(("args", "says"), [
    ([], "give --dir"),
    (["--dir", "d", "--keys", "k.hks"], "give --dir"),
    (["--keys", "k.hks"], "--keys needs --audit"),
    (["--dir", "d", "--audit", "a.jsonl"], "drop --audit"),
])
def test_key_service_takes_an_owner_directory_or_a_keystore(
        tmp_path: Path, args: list[str], says: str) -> None:
    (tmp_path / "k.hks").write_bytes(b"never read")  # refused before anything is read
    args = [str(tmp_path / a) if a in ("d", "k.hks", "a.jsonl") else a for a in args]
    result = runner.invoke(app, ["key-service", *args], env={"HEDGE_PASSPHRASE": "x"})
    assert result.exit_code == 1 and says in " ".join(result.output.split())
