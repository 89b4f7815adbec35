"""The owner's key service and audit log: `hedge owner key-service` and `hedge owner audit`
(registered in the group's module, `hedge.cli.owner`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from hedge.audit import AuditLog, verify_log
from hedge.ckks import KeySet
from hedge.cli._common import CertFile, KeyFile, passphrase, tls_options
from hedge.errors import HedgeError, ParameterError
from hedge.owner.http import check_tokens, create_app
from hedge.owner.keyservice import KeyService
from hedge.owner.workspace import OwnerWorkspace
from hedge.wire.protocol import MIN_TOKEN_LENGTH

console = Console()
errors = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


def key_service(
    dir: Annotated[Path | None, typer.Option(
        "--dir", help="The owner's working directory: keys, tokens and audit log from there, "
                      "and the URL `hedge owner train` registers assisted jobs at.")] = None,
    keys: Annotated[Path | None, typer.Option(
        "--keys", help="Or a keystore alone (a key service outside the owner directory; with "
                       "--audit and the tokens).", exists=True, dir_okay=False)] = None,
    audit: Annotated[Path | None, typer.Option(
        "--audit", help="With --keys: the audit log (JSON Lines); created if missing, verified "
                        "and continued if present.")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8765,
    public_url: Annotated[str | None, typer.Option(
        help="With --dir: the URL the cloud reaches this service at (default: from host and "
             "port).")] = None,
    token: Annotated[str | None, typer.Option(
        "--token", envvar="HEDGE_KEY_SERVICE_TOKEN", show_default=False,
        help=f"With --keys: the service-wide refresh token (at least {MIN_TOKEN_LENGTH} "
             "characters); prefer the environment variable, command lines are visible to "
             "other users.",
    )] = None,
    admin_token: Annotated[str | None, typer.Option(
        "--admin-token", envvar="HEDGE_KEY_SERVICE_ADMIN_TOKEN", show_default=False,
        help="With --keys: a separate token that alone may register jobs (recommended: without "
             "it, whoever holds the refresh token can register jobs and grant itself "
             "refreshes).",
    )] = None,
    ssl_certfile: CertFile = None,
    ssl_keyfile: KeyFile = None,
) -> None:
    """Serve the owner's key service for assisted training (passphrase from HEDGE_PASSPHRASE or
    a prompt): from the owner directory (--dir), or from a keystore with its audit log and
    tokens (--keys, --audit)."""
    if (dir is None) == (keys is None):
        raise _fail("give --dir (the owner's working directory) or --keys with --audit")
    if dir is not None:  # the directory's own tokens, whatever the environment holds
        if audit is not None:
            raise _fail("--dir keeps its audit log in the directory; drop --audit")
        ws = OwnerWorkspace.open(dir)
        refresh, admin = ws.key_service_tokens()
        scheme = "https" if ssl_certfile else "http"
        ws.set_key_service(public_url or f"{scheme}://{host}:{port}")
        run_key_service(dir / "keys.hks", dir / "keyservice-audit.jsonl", host, port, refresh,
                        admin, ssl_certfile, ssl_keyfile)
        return
    assert keys is not None
    if audit is None:
        raise _fail("--keys needs --audit: the log the key service writes every answer to")
    try:  # before the passphrase is asked for
        refresh = check_tokens(token, admin_token)[0].decode()
    except ParameterError as exc:
        raise _fail(f"{exc} (--token or HEDGE_KEY_SERVICE_TOKEN, --admin-token or "
                    "HEDGE_KEY_SERVICE_ADMIN_TOKEN); generate one with "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`") from None
    run_key_service(keys, audit, host, port, refresh, admin_token, ssl_certfile, ssl_keyfile)


def run_key_service(keys: Path, audit: Path, host: str, port: int, token: str,
                    admin_token: str | None, ssl_certfile: Path | None,
                    ssl_keyfile: Path | None) -> None:
    """Load the keystore (passphrase from HEDGE_PASSPHRASE or a prompt) and serve the key
    service until interrupted."""
    tls = tls_options(host, ssl_certfile, ssl_keyfile)
    try:
        keyset = KeySet.load(keys, passphrase=passphrase())
        log = AuditLog(audit)
    except (HedgeError, OSError) as exc:
        raise _fail(str(exc)) from None
    try:
        service = KeyService(keyset, log)
        api = create_app(service, token, admin_token=admin_token)
        if admin_token is None:
            errors.print("[yellow]warning:[/yellow] no --admin-token: the refresh token can "
                         "also register jobs")
        count, last = log.head
        errors.print(f"key set {keyset.fingerprint[:12]}…, audit log {audit} ({count} entries, "
                     f"last hash {last[:16]}…)", highlight=False)
        uvicorn.run(api, host=host, port=port, log_level="info", **tls)
    except HedgeError as exc:
        raise _fail(str(exc)) from None
    finally:
        log.close()


def audit_command(
    audit: Annotated[Path, typer.Option("--audit", help="Audit log to verify.")],
) -> None:
    """Verify the audit log's hash chain and list its entries (exit 1 on tampering)."""
    try:
        entries = verify_log(audit)
    except FileNotFoundError:
        raise _fail(f"{audit} does not exist") from None
    except (HedgeError, OSError) as exc:
        raise _fail(str(exc)) from None
    table = Table(title=f"audit log {audit}")
    for column in ("seq", "time (UTC)", "event", "job", "details", "hash"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(str(e.seq), e.time, e.event, e.job or "",
                      json.dumps(e.details, sort_keys=True), e.hash[:16] + "…")
    console.print(table)
    last = entries[-1].hash if entries else "-"
    console.print(f"[green]chain intact[/green]: {len(entries)} entries, last hash {last}",
                  highlight=False)
