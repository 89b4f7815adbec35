"""`hedge edge run`: the factory-side agent; `hedge edge requests` and `approve`: its operator's
look at the co-decryption requests waiting for the site as key holder."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from hedge.cli._common import console
from hedge.edge import EdgeAgent, EdgeConfig, StepReport
from hedge.edge.holding import HolderSettings, approve, pending_requests, read_approvals
from hedge.errors import ParameterError
from hedge.wire.cloud_client import CloudClient

app = typer.Typer(help="The edge agent: buffer, encrypt, upload, install models, infer.",
                  no_args_is_help=True)


@app.command("run")
def run(
    config: Annotated[Path, typer.Option("--config", help="edge.toml")],
    once: Annotated[bool, typer.Option(help="One cycle, then exit.")] = False,
    flush: Annotated[bool, typer.Option(
        help="With --once: upload every buffered row now, however few (otherwise rows wait "
             "for [upload] batch_rows or max_wait_seconds).")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between cycles.")] = 5.0,
) -> None:
    """Ingest, upload, poll deployments and score, until interrupted. Uploads wait for a
    batch of [upload] batch_rows rows or until the oldest row waited max_wait_seconds.

    Each part of a cycle fails alone: a refused deployment, a batch set aside or a part that
    failed is logged and reported, and the other parts go on. With --once the exit status is
    0 once the cycle ran, whatever its parts met (the output says what and why); 1 only
    when the agent cannot start (its configuration, enrolment or schema)."""
    if flush and not once:
        raise ParameterError("--flush goes with --once (a running agent uploads what is due; "
                             "[upload] max_wait_seconds = 0 uploads at every cycle)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s edge %(message)s")
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    agent = EdgeAgent(EdgeConfig.load(config))
    try:
        if once:
            agent.connector.start()
            agent.connector.wait(interval)  # streams: what arrives within one interval
            report = agent.step(flush=flush)
            console.print(report)
            _explain(report)
            if report.waiting and not flush:
                console.print(f"{report.waiting} buffered rows wait for [upload] batch_rows "
                              "rows or max_wait_seconds; --flush uploads them now")
            elif report.waiting:  # flushed, yet rows stay: the report or the log says why
                console.print(f"{report.waiting} buffered rows were not uploaded (the cloud "
                              "unreachable, or balanced class weights waiting for rows of "
                              "both classes: see the log above); they stay in the buffer")
        else:
            agent.run(threading.Event(), interval)
    except KeyboardInterrupt:
        pass
    finally:
        agent.close()


def _explain(report: StepReport) -> None:
    """What went wrong in the cycle, in words (the log above has the details)."""
    if report.refused is not None:
        console.print("the newest deployment was refused, the active model stays: "
                      f"{escape(report.refused)}")
    if report.problem is not None:
        console.print(f"refused: {escape(report.problem)}")
    for failure in report.failures:
        console.print(f"failed: {escape(failure)} (the traceback is in the log above); the "
                      "other parts of the cycle ran")


def _holding(config: Path) -> tuple[EdgeConfig, HolderSettings]:
    loaded = EdgeConfig.load(config)
    if loaded.holder is None:
        raise ParameterError(f"{config} has no [holder] section: this site holds no key share")
    return loaded, loaded.holder


@app.command("requests")
def requests(config: Annotated[Path, typer.Option("--config", help="edge.toml")]) -> None:
    """The co-decryption requests waiting for this site as key holder: what each would
    release, over whose rows, and whether it is approved (with [holder] approval =
    "operator", the agent answers only approved ones)."""
    loaded, settings = _holding(config)
    e = loaded.enrolment
    with CloudClient(e.cloud, e.token, verify=e.tls) as client:
        waiting = pending_requests(client, e.consortium, e.owner_key)
    approvals = read_approvals(settings)
    table = Table(title=f"co-decryption requests waiting for {e.site}")
    for col in ("request", "job", "kind", "values", f"rows of {e.site}", "rows in all",
                "holders", "approved by"):
        table.add_column(col)
    for r in waiting:
        mine = sum(u.rows for u in r.uploads if u.site == e.site)
        table.add_row(r.request, r.job, r.kind, "all" if r.released is None else str(r.released),
                      str(mine), str(r.rows), ", ".join(r.holders or ()),
                      approvals.get(r.request, "-"))
    console.print(table)


@app.command("approve")
def approve_request(
    request: Annotated[str, typer.Argument(help="the request id (hedge edge requests)")],
    by: Annotated[str, typer.Option("--by", help="who approves it (kept in the audit log)")],
    config: Annotated[Path, typer.Option("--config", help="edge.toml")],
) -> None:
    """Approve one co-decryption request for this site: the agent's next cycle answers it, by
    the policy's other rules."""
    _, settings = _holding(config)
    approve(settings, request, by)
    console.print(f"request {request} approved by {escape(by)}; the agent answers it next cycle")
