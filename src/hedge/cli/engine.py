"""`hedge presets` and `hedge selfcheck`: the engine's commands."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from hedge.ckks import MAX_LOG_Q_128, PRESETS
from hedge.ckks.selfcheck import run_checks

console = Console()


def presets() -> None:
    """List the named CKKS parameter presets with their depth, scale and security bound."""
    table = Table(title="CKKS presets (128-bit security, HE Standard)")
    for column in ("name", "N", "slots", "depth", "scale", "log Q (max)", "description"):
        table.add_column(column)
    for p in PRESETS.values():
        table.add_row(p.name, str(p.poly_modulus_degree), str(p.slot_count), str(p.depth),
                      f"2^{p.scale_bits}",
                      f"{p.total_bits} ({MAX_LOG_Q_128[p.poly_modulus_degree]})",
                      p.description)
    console.print(table)


def selfcheck(
    preset: str = typer.Option("fast", help="Preset to check: fast or standard."),
) -> None:
    """Check every engine operation against numpy and print a timing summary."""
    if preset not in ("fast", "standard"):
        hint = (" (deep needs gigabytes of rotation keys; benchmarks/ckks_ops.py covers it)"
                if preset == "deep" else "")
        console.print(f"[red]unknown preset {preset!r}; choose fast or standard{hint}[/red]")
        raise typer.Exit(2)
    table = Table(title=f"hedge engine self-check, preset '{preset}'")
    for column in ("check", "result", "max error", "tolerance", "time"):
        table.add_column(column, justify="left" if column == "check" else "right")
    failed = 0
    with console.status("running checks…"):
        for check in run_checks(preset):
            failed += not check.passed
            result = "[green]ok[/green]" if check.passed else "[red]FAILED[/red]"
            table.add_row(
                check.name,
                result + (f" ({check.detail})" if check.detail else ""),
                "" if check.error is None else f"{check.error:.1e}",
                "" if check.tolerance is None else f"{check.tolerance:.0e}",
                f"{check.seconds * 1000:.1f} ms",
            )
    console.print(table)
    if failed:
        console.print(f"[red]{failed} check(s) failed[/red]")
        raise typer.Exit(1)
    console.print("[green]all checks passed[/green]")
