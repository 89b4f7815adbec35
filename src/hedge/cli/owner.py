"""`hedge owner …`: the owner's side of the pipeline (`tls-init | init | add-site | revoke-site |
train | status | prepare | release | evaluate | deploy | rollback`, working directory:
`hedge.owner.workspace`), and the key service and the audit check (`key-service | audit`, from
`hedge.cli.owner_keys`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from hedge.cli import owner_keys
from hedge.cli._common import console, passphrase
from hedge.files import write_json
from hedge.ml import LinearModel, TrainingPlan
from hedge.ml.evaluation import EvaluationReport
from hedge.ml.plan import check_mode
from hedge.owner.statistics_release import DEFAULT_MIN_ROWS
from hedge.owner.tls import has_tls, init_tls
from hedge.owner.workspace import OwnerWorkspace
from hedge.wire.package import AlertPolicy

app = typer.Typer(
    help="The owner's side: create the consortium, enrol sites, train, release, deploy and roll "
         "back models (working directory: --dir); run the key service for assisted training; "
         "verify the audit log.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("key-service")(owner_keys.key_service)
app.command("audit")(owner_keys.audit_command)

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
    upload: Annotated[list[int] | None, typer.Option(
        help="Train on these uploads only (ids from `status`; repeat the option).")] = None,
    mode: Annotated[str | None, typer.Option(
        help="non-interactive or assisted (refreshes through `hedge owner key-service`); "
             "default: the plan's.")] = None,
) -> None:
    """Start training on what the sites uploaded (all of it, or --upload ...)."""
    ws = OwnerWorkspace.open(dir)
    job = ws.train(model, iterations, upload,
                   assisted=None if mode is None else check_mode(mode) == "assisted")
    console.print(f"job {job} queued")
    if wait:
        ws.wait(job, poll=1.0)
        console.print(f"job {job} done")


@app.command("status")
def status(dir: Dir) -> None:
    """Uploads and jobs of the consortium."""
    ws = OwnerWorkspace.open(dir)
    with ws.client() as client:  # one connection for both
        uploads, jobs = client.uploads(ws.consortium), client.jobs(ws.consortium)
    table = Table(title=f"consortium {ws.state['name']}")
    for column in ("site", "uploads", "rows", "MB", "upload ids"):
        table.add_column(column)
    for site in ws.state["sites"]:
        mine = [u for u in uploads if u["site"] == site]
        table.add_row(site, str(len(mine)), str(sum(u["rows"] for u in mine)),
                      f"{sum(u['size'] for u in mine) / 1e6:.1f}",
                      " ".join(str(u["id"]) for u in mine))
    console.print(table)
    for j in jobs:
        console.print(f"job {j['id']} ({j['kind']}): {j['status']} {j['progress']}/{j['total']} "
                      f"{escape(j['message'])}", highlight=False)


@app.command("release")
def release(
    job: Annotated[int, typer.Argument(help="A finished training job.")],
    dir: Dir,
    out: Annotated[Path, typer.Option("--out", help="The released model (JSON).")],
    evaluate_on: Annotated[list[int] | None, typer.Option(
        help="Then score the released model, encrypted, on these uploads (held out from "
             "training; repeat the option) and show its quality.")] = None,
) -> None:
    """Fetch the encrypted model and release-decrypt it (audited); with --evaluate-on, show
    its quality from an encrypted evaluation in the cloud."""
    ws = OwnerWorkspace.open(dir)
    secret = passphrase()
    model = ws.release(job, secret)
    model.save(out)
    console.print(f"model released ({len(model.coef)} coefficients, audited) -> {out}")
    if evaluate_on:
        _show(*_evaluate(ws, model, evaluate_on, None, secret))


@app.command("prepare")
def prepare(
    dir: Dir,
    upload: Annotated[list[int] | None, typer.Option(
        help="Only these uploads (ids from `status`; repeat the option). Default: all.")] = None,
    min_rows: Annotated[int, typer.Option(
        help="Refuse the release if a class has fewer rows.", min=1)] = DEFAULT_MIN_ROWS,
    out: Annotated[Path | None, typer.Option(help="Also write the statistics (JSON).")] = None,
) -> None:
    """Pooled per-class statistics of the sites' data: the cloud adds their encrypted counts,
    sums and sums of squares; the owner releases the totals (audited, refused for small
    classes) as per-class counts and per-feature means and standard deviations (the schema's
    scaled units, [-1, 1])."""
    ws = OwnerWorkspace.open(dir)
    job = ws.prepare(upload)
    console.print(f"preparation job {job} queued")
    ws.wait(job, poll=0.5)
    stats = ws.release_statistics(job, passphrase(), min_rows)
    table = Table(title=f"pooled statistics (job {job}): class 0 {stats.counts[0]:.0f} rows, "
                        f"class 1 {stats.counts[1]:.0f} rows")
    for column in ("feature", "mean (0)", "std (0)", "mean (1)", "std (1)"):
        table.add_column(column, justify="right")
    for j, name in enumerate(stats.columns):
        table.add_row(escape(name), *(f"{v:.4f}" for v in (stats.means[0, j], stats.stds[0, j],
                                                    stats.means[1, j], stats.stds[1, j])))
    console.print(table)
    if out is not None:
        write_json(out, {"columns": stats.columns, "counts": stats.counts.tolist(),
                         "means": stats.means.tolist(), "stds": stats.stds.tolist()})


@app.command("evaluate")
def evaluate(
    model: Annotated[Path, typer.Argument(help="A released logistic model (JSON).")],
    dir: Dir,
    upload: Annotated[list[int] | None, typer.Option(
        help="Evaluate on these uploads (ids from `status`, e.g. held out from training; "
             "repeat the option). Default: all.")] = None,
    margin_bound: Annotated[float | None, typer.Option(
        help="Bound R on |b + x.w| for the sign approximation (default: the weights' "
             "1-norm, always a true bound).")] = None,
    out: Annotated[Path | None, typer.Option(help="Also write the metrics (JSON).")] = None,
) -> None:
    """Score a released model on the sites' encrypted data in the cloud (the model travels
    encrypted; the cloud learns neither it nor any row), then release the Brier score and the
    confusion counts (audited)."""
    ws = OwnerWorkspace.open(dir)
    report, job = _evaluate(ws, LinearModel.load(model), upload, margin_bound, passphrase())
    _show(report, job)
    if out is not None:
        write_json(out, report.as_dict())


def _evaluate(ws: OwnerWorkspace, model: LinearModel, uploads: list[int] | None,
              margin_bound: float | None, secret: str) -> tuple[EvaluationReport, int]:
    job = ws.evaluate(model, uploads, margin_bound)
    console.print(f"evaluation job {job} queued")
    ws.wait(job, poll=1.0)
    return ws.release_evaluation(job, secret), job


def _show(report: EvaluationReport, job: int) -> None:
    c = report.counts
    table = Table(title=f"encrypted evaluation on {report.rows} rows (job {job})")
    for column in ("metric", "value"):
        table.add_column(column)
    table.add_row("Brier score", f"{report.brier:.4f} (± {report.brier_bound:.3f})")
    for name, value in (("TP", c.tp), ("FP", c.fp), ("TN", c.tn), ("FN", c.fn)):
        table.add_row(name, f"{value:.1f}")
    for name, value in (("accuracy", c.accuracy), ("precision", c.precision),
                        ("recall", c.recall)):
        table.add_row(name, f"{value:.3f}")
    console.print(table)


@app.command("deploy")
def deploy(
    model: Annotated[Path, typer.Argument(help="A released model (JSON).")],
    dir: Dir,
    site: Annotated[list[str] | None, typer.Option(help="Only these sites.")] = None,
    alert_threshold: Annotated[float | None, typer.Option(
        help="Edges raise an alert at this predicted probability (signed with the model; "
             "default: each edge's own setting).")] = None,
    hysteresis: Annotated[float, typer.Option(
        help="An alert ends only below threshold minus this.")] = 0.0,
) -> None:
    """Sign the model, encrypt it for each site, publish it through the cloud."""
    alert = None if alert_threshold is None else AlertPolicy(alert_threshold, hysteresis)
    version = OwnerWorkspace.open(dir).deploy(LinearModel.load(model), passphrase(), site,
                                              alert=alert)
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
