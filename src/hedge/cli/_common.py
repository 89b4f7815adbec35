"""Helpers shared by the command modules: console, passphrases, progress, file kinds."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from hedge.ckks import container
from hedge.errors import CorruptDataError, SchemaError, SecretMaterialError

console = Console(stderr=True)


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
