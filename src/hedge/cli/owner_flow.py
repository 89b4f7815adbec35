"""`hedge owner tls-init | init | add-site | revoke-site | train | status | release | deploy |
rollback`: the owner's side of the pipeline (working directory: `hedge.owner.workspace`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hedge.cli._common import console, passphrase
from hedge.cli.owner import app
from hedge.ml import LinearModel, TrainingPlan
from hedge.owner.tls import has_tls, init_tls
from hedge.owner.workspace import OwnerWorkspace

Dir = Annotated[Path, typer.Option("--dir", help="The owner's working directory.")]


@app.command("tls-init")
def tls_init(
    dir: Dir,
    host: Annotated[list[str], typer.Option(help="Host name or address the sites use to reach "
                                                 "the cloud (repeat the option).")],
    name: Annotated[str, typer.Option(help="Name in the CA certificate.")] = "hedge owner",
) -> None:
    """Create the owner's CA for mutual TLS (before `init`): the owner's client certificate
    and the cloud's server certificate; every later call to the cloud, and every site enrolled
    from then on, uses it."""
    cloud = init_tls(dir, name, tuple(host), passphrase=passphrase(confirm=True))
    console.print(f"CA in {dir / 'tls'}; give {cloud} to the cloud's operator and start the "
                  f"service with\n  hedge cloud serve --ssl-certfile {cloud / 'cert.pem'} "
                  f"--ssl-keyfile {cloud / 'key.pem'} --client-ca {cloud / 'client-ca.pem'}",
                  highlight=False)


@app.command("init")
def init(
    plan: Annotated[Path, typer.Option(help="Training plan (hedge plan ...).")],
    cloud: Annotated[str, typer.Option(help="Cloud service URL.")],
    admin_token_file: Annotated[Path, typer.Option(help="The cloud's admin token file.")],
    name: Annotated[str, typer.Option(help="Consortium name.")],
    dir: Dir,
) -> None:
    """Create keys from the plan and a signing key, and register the consortium at the cloud."""
    ws = OwnerWorkspace.create(dir, TrainingPlan.load(plan), cloud=cloud,
                               admin_token=admin_token_file.read_text().strip(), name=name,
                               passphrase=passphrase(confirm=True))
    console.print(f"consortium {name!r} (id {ws.consortium}) registered at {cloud}; keys and "
                  f"signing key in {dir}")


@app.command("add-site")
def add_site(name: Annotated[str, typer.Argument(help="The site's name.")], dir: Dir) -> None:
    """Enrol a site: writes DIR/sites/NAME.json, to hand to the site out of band."""
    path = OwnerWorkspace.open(dir).add_site(name, passphrase() if has_tls(dir) else None)
    console.print(f"site {name!r} enrolled -> {path} (secret: give it to the site only)")


@app.command("revoke-site")
def revoke_site(name: Annotated[str, typer.Argument(help="The site's name.")], dir: Dir) -> None:
    """Revoke a site's token at the cloud (a lost enrolment file, a site that leaves): it can no
    longer upload or fetch models; its uploads stay, and it gets no further deployments."""
    OwnerWorkspace.open(dir).revoke_site(name)
    console.print(f"site {name!r} revoked")


@app.command("train")
def train(
    dir: Dir,
    model: Annotated[str, typer.Option(help="logistic or ridge.")] = "logistic",
    iterations: Annotated[int | None, typer.Option(help="Default: the plan's.")] = None,
    wait: Annotated[bool, typer.Option(help="Wait until the job ends.")] = False,
) -> None:
    """Start training on everything the sites uploaded."""
    ws = OwnerWorkspace.open(dir)
    job = ws.train(model, iterations)
    console.print(f"job {job} queued")
    if wait:
        ws.wait(job, poll=1.0)
        console.print(f"job {job} done")


@app.command("status")
def status(dir: Dir) -> None:
    """Uploads and jobs of the consortium."""
    ws = OwnerWorkspace.open(dir)
    client = ws.client()
    try:
        uploads, jobs = client.uploads(ws.consortium), client.jobs(ws.consortium)
    finally:
        client.close()
    table = Table(title=f"consortium {ws.state['name']}")
    for column in ("site", "uploads", "rows", "MB"):
        table.add_column(column)
    for site in ws.state["sites"]:
        mine = [u for u in uploads if u["site"] == site]
        table.add_row(site, str(len(mine)), str(sum(u["rows"] for u in mine)),
                      f"{sum(u['size'] for u in mine) / 1e6:.1f}")
    console.print(table)
    for j in jobs:
        console.print(f"job {j['id']}: {j['status']} {j['progress']}/{j['total']} "
                      f"{j['message']}")


@app.command("release")
def release(
    job: Annotated[int, typer.Argument(help="A finished training job.")],
    dir: Dir,
    out: Annotated[Path, typer.Option("--out", help="The released model (JSON).")],
) -> None:
    """Fetch the encrypted model and release-decrypt it (audited)."""
    model = OwnerWorkspace.open(dir).release(job, passphrase())
    model.save(out)
    console.print(f"model released ({len(model.coef)} coefficients, audited) -> {out}")


@app.command("deploy")
def deploy(
    model: Annotated[Path, typer.Argument(help="A released model (JSON).")],
    dir: Dir,
    site: Annotated[list[str] | None, typer.Option(help="Only these sites.")] = None,
) -> None:
    """Sign the model, encrypt it for each site, publish it through the cloud."""
    version = OwnerWorkspace.open(dir).deploy(LinearModel.load(model), passphrase(), site)
    console.print(f"model version {version} published")


@app.command("rollback")
def rollback(
    to: Annotated[int, typer.Option("--to", help="The earlier version to go back to.")],
    dir: Dir,
    site: Annotated[list[str] | None, typer.Option(help="Only these sites.")] = None,
) -> None:
    """Publish a signed rollback to an earlier version (sites refuse unsigned downgrades)."""
    ws = OwnerWorkspace.open(dir)
    ws.deploy(ws.model(to), passphrase(), site, rollback_to=to)
    console.print(f"rollback to version {to} published")
