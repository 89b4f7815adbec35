"""Helpers shared by the command modules: console, passphrases, progress, file kinds."""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from hedge.ckks import container
from hedge.errors import CorruptDataError, SchemaError, SecretMaterialError
from hedge.wire.protocol import is_loopback_host

console = Console(stderr=True)

CertFile = Annotated[Path | None, typer.Option(help="TLS certificate (PEM).")]
KeyFile = Annotated[Path | None, typer.Option(help="TLS private key (PEM).")]
Out = Annotated[Path, typer.Option("--out", help="Where to write the result.")]


def tls_options(host: str, certfile: Path | None, keyfile: Path | None,
                client_ca: Path | None = None) -> dict[str, Any]:
    """uvicorn's TLS arguments for a service on `host` (mutual TLS with `client_ca`); exits
    with a message when an option lacks its partner, warns when a non-loopback address
    would serve without TLS."""
    if (certfile is None) != (keyfile is None):
        console.print("[red]error:[/red] give both --ssl-certfile and --ssl-keyfile, or neither")
        raise typer.Exit(1)
    if client_ca is not None and certfile is None:
        console.print("[red]error:[/red] --client-ca needs TLS: give --ssl-certfile and "
                      "--ssl-keyfile too")
        raise typer.Exit(1)
    if certfile is None and not is_loopback_host(host):
        console.print(f"[yellow]warning:[/yellow] listening on {host} without TLS: tokens and "
                      "data travel in clear; give --ssl-certfile/--ssl-keyfile or put a TLS "
                      "proxy in front")
    return {"ssl_certfile": None if certfile is None else str(certfile),
            "ssl_keyfile": None if keyfile is None else str(keyfile),
            "ssl_ca_certs": None if client_ca is None else str(client_ca),
            "ssl_cert_reqs": ssl.CERT_NONE if client_ca is None else ssl.CERT_REQUIRED}


def passphrase(*, confirm: bool = False) -> str:
    """The keystore passphrase: HEDGE_PASSPHRASE, or a hidden prompt."""
    value = os.environ.get("HEDGE_PASSPHRASE")
    if value:
        return value
    entered: str = typer.prompt("keystore passphrase", hide_input=True,
                                confirmation_prompt=confirm)
    return entered


def progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}"
                    "/{task.total}"), TimeElapsedColumn(), console=console)


def file_kind(path: Path) -> int:
    """The container kind of a hedge file (reads only its header)."""
    try:
        with path.open("rb") as fh:
            return container.read_header(fh).kind
    except FileNotFoundError:
        raise CorruptDataError(f"{path} does not exist") from None


def refuse_secret_files(*paths: Path) -> None:
    """`SecretMaterialError` if any of the files is a keystore: cloud commands never take one."""
    for path in paths:
        big_enough = path.exists() and path.stat().st_size >= 8
        if big_enough and file_kind(path) == container.Kind.KEYSTORE:
            raise SecretMaterialError(
                f"{path} is a keystore holding secret key material; this command runs in the "
                "cloud and takes only public bundles and encrypted data. Keep keystores with the "
                "owner."
            )


def read_csv(path: Path) -> pd.DataFrame:
    """A CSV file (UTF-8, with or without BOM) as a frame, or `SchemaError`."""
    try:
        return pd.read_csv(path, encoding="utf-8-sig")
    except FileNotFoundError:
        raise SchemaError(f"{path} does not exist") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SchemaError(f"{path} is not a readable CSV file: {exc}") from exc
