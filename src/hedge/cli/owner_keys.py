"""The owner's key service and audit log: `hedge owner serve-keys` and `hedge owner audit`
(registered in the group's module, `hedge.cli.owner`), and the key service's runner that
`hedge owner key-service` shares."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from hedge.ckks import KeySet
from hedge.cli._common import CertFile, KeyFile, passphrase, tls_options
from hedge.errors import HedgeError, ParameterError
from hedge.owner.audit import AuditLog, verify_log
from hedge.owner.http import check_tokens, create_app
from hedge.owner.keyservice import KeyService
from hedge.wire.protocol import MIN_TOKEN_LENGTH

console = Console()
errors = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


def serve_keys(
    keys: Annotated[Path, typer.Option("--keys", help="The owner's keystore.", exists=True,
                                       dir_okay=False)],
    audit: Annotated[Path, typer.Option("--audit", help="Audit log (JSON Lines); created if "
                                        "missing, verified and continued if present.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8765,
    token: Annotated[str | None, typer.Option(
        "--token", envvar="HEDGE_KEY_SERVICE_TOKEN", show_default=False,
        help=f"Bearer token the cloud presents (at least {MIN_TOKEN_LENGTH} characters); "
             "prefer the environment variable, command lines are visible to other users.",
    )] = None,
    admin_token: Annotated[str | None, typer.Option(
        "--admin-token", envvar="HEDGE_KEY_SERVICE_ADMIN_TOKEN", show_default=False,
        help="Separate token that alone may register jobs (recommended: without it, whoever "
             "holds the refresh token can register jobs and grant itself refreshes).",
    )] = None,
    ssl_certfile: CertFile = None,
    ssl_keyfile: KeyFile = None,
) -> None:
    """Serve the key service over HTTP (passphrase from HEDGE_PASSPHRASE or a prompt)."""
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
    service until interrupted (`serve-keys`, and `key-service` for an owner directory)."""
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
