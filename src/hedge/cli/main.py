"""The `hedge` command.

It starts with the base install alone: a command group whose packages are in an install
extra is registered through `_optional`, and where that extra is missing, as a stand-in that
`hedge --help` lists as not installed and that, run, fails with `MissingExtraError` naming the
extra to install."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from types import ModuleType

import typer
from rich.console import Console
from rich.markup import escape

from hedge import HedgeError, __version__
from hedge.cli import data, engine, keys, learn, plan, schema, segment
from hedge.extras import is_foreign, missing_extra

app = typer.Typer(
    name="hedge",
    help="Data-secure machine learning on homomorphically encrypted (CKKS) data.",
    no_args_is_help=True,
    add_completion=False,
)


def _stand_in(name: str, error: HedgeError) -> None:
    """`hedge NAME ...` (whatever follows, --help included) fails with `error`."""
    def command() -> None:
        raise error

    app.command(name, help=escape(f"(not installed: {error})"), add_help_option=False,
                context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(
        command)


def _optional(name: str, module: str, extra: str, register: Callable[[ModuleType], None]) -> None:
    """Register `hedge NAME` from `hedge.cli.MODULE`, or its stand-in if a package of the
    install extra `extra` is missing (a missing module of hedge itself propagates)."""
    try:
        loaded = importlib.import_module(f"hedge.cli.{module}")
    except ModuleNotFoundError as exc:
        if not is_foreign(exc):
            raise
        _stand_in(name, missing_extra(exc, extra, f"`hedge {name}`"))
    else:
        register(loaded)


def _group(name: str) -> Callable[[ModuleType], None]:
    def register(module: ModuleType) -> None:
        app.add_typer(module.app, name=name)
    return register


_optional("demo", "demo", "all", lambda module: app.command("demo")(module.demo))
app.command("presets")(engine.presets)
app.command("selfcheck")(engine.selfcheck)
app.add_typer(plan.app, name="plan")
app.add_typer(keys.app, name="keys")
app.add_typer(schema.app, name="schema")
app.add_typer(data.app, name="data")
app.command("encrypt")(learn.encrypt)
app.command("train")(learn.train)
app.command("decrypt-model")(learn.decrypt_model)
app.command("predict")(learn.predict)
_optional("model", "model", "export", _group("model"))
_optional("owner", "owner", "owner", _group("owner"))
app.add_typer(segment.app, name="segment")
_optional("cloud", "cloud", "cloud", _group("cloud"))
_optional("edge", "edge", "edge", _group("edge"))
_optional("sim", "sim", "sim", _group("sim"))


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
