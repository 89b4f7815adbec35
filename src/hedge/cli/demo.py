"""`hedge demo`: cloud, owner and three edges on loopback, end to end (see `hedge.demo`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hedge.demo import run_demo
from hedge.ml.plan import check_mode


def demo(
    data_dir: Annotated[Path, typer.Option(help="Where every party keeps its files.")] = Path(
        "hedge-demo"),
    rows: Annotated[int | None, typer.Option(help="Use a sample of this many AI4I rows.")] = None,
    fresh: Annotated[bool, typer.Option(help="Replace an earlier demo in --data-dir.")] = False,
    mode: Annotated[str, typer.Option(
        help="assisted: the owner runs its key service and the cloud refreshes the weights "
             "through it (more iterations); non-interactive: training runs in the cloud "
             "alone.")] = "assisted",
) -> None:
    """Run the whole flow on this machine: enrol, encrypt and upload, train on ciphertexts,
    release, evaluate, sign and deploy, verify, activate and score at the edges; then a
    summary."""
    run_demo(data_dir, rows=rows, fresh=fresh, mode=check_mode(mode))
