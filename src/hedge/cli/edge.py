"""`hedge edge run`: the factory-side agent."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from hedge.cli._common import console
from hedge.edge import EdgeAgent, EdgeConfig, StepReport
from hedge.errors import ParameterError

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
