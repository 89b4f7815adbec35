"""`hedge data`: example site files from the public datasets, for the walkthroughs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from hedge.cli._common import console
from hedge.data import EXAMPLE_SETS, datasets_dir, write_sites

app = typer.Typer(help="Example data: site files cut from the public datasets.",
                  no_args_is_help=True)


@app.command("sites")
def sites(
    name: Annotated[str, typer.Argument(
        help=f"Public dataset: {', '.join(EXAMPLE_SETS)} (iDASH 2017 sets, AI4I 2020, IBM HR).")],
    out: Annotated[Path, typer.Option(help="Folder for site-a.csv, site-b.csv, ... and "
                                           "holdout.csv.")] = Path("."),
    count: Annotated[int, typer.Option("--sites", help="Number of sites.")] = 2,
    holdout: Annotated[float, typer.Option(help="Share of rows held out (for predict, "
                                                "evaluate or assign); 0 for none.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the shuffle.")] = 0,
) -> None:
    """Cut a public dataset into one CSV per site and a held-out CSV (stratified by the label),
    read from the datasets folder (HEDGE_DATASETS or ../shared/datasets); nothing is
    downloaded."""
    written = write_sites(name, out, count, holdout=holdout, seed=seed)
    label = EXAMPLE_SETS[name][1]
    table = Table(title=f"{name} from {datasets_dir()}")
    table.add_column("file")
    table.add_column("rows", justify="right")
    if label is not None:
        table.add_column(f"{label} (counts)", justify="right")
    for path in [*written.sites, *([written.holdout] if written.holdout else [])]:
        frame = pd.read_csv(path)
        counts = frame[label].value_counts().sort_index() if label is not None else None
        table.add_row(str(path), f"{len(frame):,}",
                      *([", ".join(f"{k}: {v}" for k, v in counts.items())] if counts is not None
                        else []))
    console.print(table)
