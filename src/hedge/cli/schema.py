"""`hedge schema …`: which columns, how scaled."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from hedge.cli._common import Out, console, read_csv
from hedge.data import Schema
from hedge.errors import SchemaError

app = typer.Typer(help="Schemas: which columns, how scaled.", no_args_is_help=True)


@app.command("infer")
def schema_infer(
    data: Annotated[Path, typer.Argument(help="CSV file of the site's own data.")],
    out: Out,
    label: Annotated[str | None, typer.Option(help="Label column.")] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="Columns that are not features "
                                                           "(identifiers, leaks).")] = None,
    margin: Annotated[float, typer.Option(help="Widen numeric ranges by this fraction "
                                                "(ranges also lie beyond the data, never at "
                                                "its exact extremes).")] = 0.05,
    only: Annotated[list[str] | None, typer.Option(help="Use only these feature columns "
                                                        "(repeat the option).")] = None,
) -> None:
    """Infer a schema (feature kinds and ranges, label) from a CSV file."""
    frame = read_csv(data)
    if only:
        wanted = list(dict.fromkeys([*only, *([label] if label else [])]))
        missing = [c for c in wanted if c not in frame.columns]
        if missing:
            raise SchemaError(f"{data} has no column(s) {missing}")
        frame = frame[wanted]
    schema = Schema.infer(frame, label, exclude=exclude or (), margin=margin)
    schema.save(out)
    console.print(f"schema: {len(schema.columns)} model columns, label {escape(repr(label))} "
                  f"-> {out}")


