"""`hedge sim machine`: simulated milling machines (or a replayed recording) over OPC UA and
MQTT, for demos, tests and commissioning an edge without a real machine."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from hedge.cli._common import console
from hedge.data import load_ai4i, load_cmapss
from hedge.errors import ParameterError
from hedge.runtime import freeze_heap
from hedge.sim.milling import MillingMachine
from hedge.sim.mqtt_publisher import TelemetryPublisher
from hedge.sim.opcua_server import MachineServer, node_id
from hedge.sim.runner import simulate
from hedge.sim.telemetry import (
    AI4I_VARIABLES,
    CMAPSS_VARIABLES,
    MillingSource,
    ReplaySource,
    Source,
)
from hedge.wire.mqtt_settings import MqttSettings

app = typer.Typer(help="Simulated machines for the edge to connect to.", no_args_is_help=True)


def _sources(replay: str | None, machines: int, seed: int, failure_scale: float,
             loop: bool) -> list[Source]:
    if replay is None:
        return [MillingSource(MillingMachine(f"mill-{i + 1}", seed + i, failure_scale))
                for i in range(machines)]
    if replay == "cmapss":
        frame, variables, prefix = load_cmapss()[0], CMAPSS_VARIABLES, "engine"
    else:
        frame = load_ai4i() if replay == "ai4i" else pd.read_csv(Path(replay),
                                                                 encoding="utf-8-sig")
        variables, prefix = AI4I_VARIABLES, "mill"
    return [ReplaySource(f"{prefix}-{i + 1}", frame.iloc[i::machines], variables, loop)
            for i in range(machines)]


@app.command("machine")
def machine(
    opcua_port: Annotated[int, typer.Option(
        help="Serve OPC UA on this port (0: no OPC UA server).")] = 4840,
    host: Annotated[str, typer.Option(help="Address the OPC UA server listens on.")] =
        "127.0.0.1",
    mqtt: Annotated[str | None, typer.Option(
        help="Also publish to this broker (mqtt://HOST[:PORT] or mqtts://...).")] = None,
    topic_prefix: Annotated[str, typer.Option(
        help="MQTT topics: PREFIX/<machine>/telemetry.")] = "factory/sim/milling",
    machines: Annotated[int, typer.Option(min=1, help="How many machines.")] = 1,
    seed: Annotated[int, typer.Option(help="Random seed (machine i uses seed + i).")] = 0,
    speedup: Annotated[float, typer.Option(
        help="Cycles per second per machine (one workpiece per second of machine time).")]
        = 1.0,
    failure_scale: Annotated[float, typer.Option(
        help="Multiply the random failure rates (tool wear, random failures).")] = 1.0,
    replay: Annotated[str | None, typer.Option(
        help="Replay a recording instead: 'ai4i', 'cmapss' (FD001 training cycles) or a CSV "
             "file with the AI4I columns.")] = None,
    loop: Annotated[bool, typer.Option(help="Replay the recording again at its end.")] = False,
    cycles: Annotated[int | None, typer.Option(help="Stop after this many cycles.")] = None,
    certificate: Annotated[Path | None, typer.Option(
        help="Server certificate (DER or PEM): offer only Basic256Sha256.")] = None,
    private_key: Annotated[Path | None, typer.Option(help="Its private key (PEM).")] = None,
) -> None:
    """Run simulated machines until interrupted (or --cycles)."""
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    if (certificate is None) != (private_key is None):
        raise ParameterError("--certificate and --private-key go together")
    sources = _sources(replay, machines, seed, failure_scale, loop)

    async def main() -> int:
        async with AsyncExitStack() as stack:
            server = None
            if opcua_port:
                server = await stack.enter_async_context(MachineServer(
                    sources, host, opcua_port, certificate, private_key))
                console.print(f"OPC UA: {server.endpoint}; variables such as "
                              f"{node_id(sources[0].machine, sources[0].variables[0].name)}",
                              highlight=False)
            publisher = None
            if mqtt:
                publisher = stack.enter_context(TelemetryPublisher(
                    MqttSettings.parse(mqtt), topic_prefix))
                console.print(f"MQTT: {topic_prefix}/<machine>/telemetry")
            freeze_heap()  # no full-collection pauses in the machine's cycles
            return await simulate(sources, rate=speedup, server=server, publisher=publisher,
                                  cycles=cycles)

    try:
        published = asyncio.run(main())
    except KeyboardInterrupt:
        return
    console.print(f"{published} samples published")
