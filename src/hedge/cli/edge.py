"""`hedge edge run`: the factory-side agent."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Annotated

import typer

from hedge.cli._common import console
from hedge.edge import EdgeAgent, EdgeConfig

app = typer.Typer(help="The edge agent: buffer, encrypt, upload, install models, infer.",
                  no_args_is_help=True)


@app.command("run")
def run(
    config: Annotated[Path, typer.Option("--config", help="edge.toml")],
    once: Annotated[bool, typer.Option(help="One cycle, then exit.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between cycles.")] = 5.0,
) -> None:
    """Ingest, upload, poll deployments and score, until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s edge %(message)s")
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    agent = EdgeAgent(EdgeConfig.load(config))
    try:
        if once:
            agent.connector.start()
            agent.connector.wait(interval)  # streams: what arrives within one interval
            report = agent.step()
            console.print(report)
        else:
            agent.run(threading.Event(), interval)
    except KeyboardInterrupt:
        pass
    finally:
        agent.close()
