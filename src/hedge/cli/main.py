"""The `hedge` command."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from hedge import HedgeError, __version__
from hedge.cli import cloud, data, demo, edge, engine, learn, owner, owner_flow, segment, sim

app = typer.Typer(
    name="hedge",
    help="Data-secure machine learning on homomorphically encrypted (CKKS) data.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("demo")(demo.demo)
app.command("presets")(engine.presets)
app.command("selfcheck")(engine.selfcheck)
app.add_typer(learn.plan_app, name="plan")
app.add_typer(learn.keys_app, name="keys")
app.add_typer(learn.schema_app, name="schema")
app.add_typer(data.app, name="data")
app.command("encrypt")(learn.encrypt)
app.command("train")(learn.train)
app.command("decrypt-model")(learn.decrypt_model)
app.command("predict")(learn.predict)
app.add_typer(owner.app, name="owner")
app.add_typer(segment.app, name="segment")
app.add_typer(cloud.app, name="cloud")
app.add_typer(edge.app, name="edge")
app.add_typer(sim.app, name="sim")
_ = owner_flow  # registers the owner's pipeline commands on `hedge owner`


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hedge {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Show the version and exit."),
) -> None:
    """hedge: train and evaluate models on data that stays encrypted."""


def run() -> None:
    """Console entry point: hedge errors become a one-line message (and a line per note),
    however wide the terminal, and exit status 1."""
    errors = Console(stderr=True, soft_wrap=True)
    try:
        app(standalone_mode=True)
    except HedgeError as exc:
        errors.print(f"[red]error:[/red] {escape(str(exc))}")
        for note in getattr(exc, "__notes__", ()):
            errors.print(f"  note: {escape(str(note))}")
        sys.exit(1)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        errors.print(f"[red]error:[/red] {escape(f'{exc.strerror}: {exc.filename}')}")
        sys.exit(1)


if __name__ == "__main__":
    run()
