"""`hedge plan …`: plan a training before any key exists."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hedge.cli._common import Out, console
from hedge.ml import plan_training
from hedge.ml.plan import check_mode

app = typer.Typer(help="Plan a training before any key exists.", no_args_is_help=True)

@app.command("logistic")
def plan_logistic(
    features: Annotated[int, typer.Option(help="Number of model columns (after categories).")],
    max_rows: Annotated[int, typer.Option(help="Largest pooled row count to train on.")],
    out: Out,
    mode: Annotated[str, typer.Option(help="non-interactive or assisted.")] = "non-interactive",
    iterations: Annotated[int | None, typer.Option(help="Training iterations.")] = None,
) -> None:
    """Plan logistic regression: preset, depth, iterations, rotation keys, size and time."""
    _plan("logistic", features, max_rows, mode, iterations, out)


@app.command("ridge")
def plan_ridge(
    features: Annotated[int, typer.Option(help="Number of model columns (after categories).")],
    max_rows: Annotated[int, typer.Option(help="Largest pooled row count to train on.")],
    out: Out,
    mode: Annotated[str, typer.Option(help="non-interactive (ridge needs no refresh).")] = (
        "non-interactive"),
    iterations: Annotated[int | None, typer.Option(help="Iterations when sites pool.")] = None,
) -> None:
    """Plan ridge regression (remaining useful life and other continuous targets)."""
    _plan("ridge", features, max_rows, mode, iterations, out)


def _plan(kind: str, features: int, max_rows: int, mode: str, iterations: int | None,
          out: Path) -> None:
    plan = plan_training(kind, features, max_rows, check_mode(mode), iterations)
    plan.save(out)
    console.print(f"plan: preset [bold]{plan.preset}[/bold], {plan.iterations} iterations, "
                  f"depth {plan.depth}, {len(plan.rotation_steps)} rotation keys, "
                  f"bundle ~{plan.bundle_bytes / 1e6:.0f} MB, training ~{plan.seconds:.0f} s "
                  f"-> {out}")


