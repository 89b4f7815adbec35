"""`hedge keys …`: the owner's keys, created from a plan."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hedge.ckks import KeySet
from hedge.cli._common import console, passphrase
from hedge.errors import ParameterError
from hedge.ml import TrainingPlan

app = typer.Typer(help="Owner keys: create them from a plan.", no_args_is_help=True)

@app.command("init")
def keys_init(
    plan: Annotated[Path, typer.Option(help="The plan the keys are for.")],
    out: Annotated[Path, typer.Option("--out", help="Owner directory for keys.hks and "
                                                    "public.bundle.")],
) -> None:
    """Generate the owner's keys for a plan: out/keys.hks (encrypted) and out/public.bundle."""
    p = TrainingPlan.load(plan)
    existing = [f for f in (out / "keys.hks", out / "public.bundle") if f.exists()]
    if existing:
        raise ParameterError(f"{existing[0]} exists: refusing to replace the owner's keys (all "
                             "data encrypted under them would become unreadable); choose "
                             "another --out")
    secret = passphrase(confirm=True)
    with console.status(f"generating {p.preset} keys with {len(p.rotation_steps)} rotations…"):
        keys = KeySet.generate(p.preset, rotations=p.rotation_steps)
    out.mkdir(parents=True, exist_ok=True)
    keys.save(out / "keys.hks", passphrase=secret)
    keys.public().save(out / "public.bundle")
    console.print(f"keys {keys.fingerprint[:16]}… -> {out / 'keys.hks'} (secret, keep it here), "
                  f"{out / 'public.bundle'} (share with the cloud and the sites)")


