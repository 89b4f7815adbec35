"""The simulated machine as a standard OPC UA client sees it, and `hedge sim machine`."""

from __future__ import annotations

import asyncio
import subprocess

from asyncua import Client

from hedge.services import free_port, hedge_command
from hedge.sim.milling import MillingMachine
from hedge.sim.opcua_server import endpoint
from hedge.sim.runner import SimulatorThread
from hedge.sim.telemetry import MillingSource, Unit


def test_variables_are_browsable_with_names_and_engineering_units() -> None:
    port = free_port()
    with SimulatorThread([MillingSource(MillingMachine("mill-1", 3))], rate=200,
                         opcua_port=port) as sim:
        sim.start_publishing()

        async def browse() -> tuple[dict[str, object], object, int]:
            async with Client(endpoint(port)) as client:
                mill = await client.nodes.objects.get_child(["2:Machines", "2:mill-1"])
                names = {}
                for node in await mill.get_children():
                    names[(await node.read_display_name()).Text] = await node.read_value()
                torque = client.get_node("ns=2;s=mill-1.Torque")
                units = await (await torque.get_child("0:EngineeringUnits")).read_value()
                cycle = await client.get_node("ns=2;s=mill-1.Cycle").read_value()
                return names, units, cycle

        names, units, cycle = asyncio.run(browse())
    assert {"Torque", "RotationalSpeed", "ToolWear", "AirTemperature", "ProcessTemperature",
            "Type", "MachineFailure", "TWF", "Cycle", "FailureRisk", "Alert"} <= set(names)
    assert units.DisplayName.Text == "N·m"
    assert units.UnitId == Unit("NU", "", "").unit_id == (ord("N") << 8) + ord("U")
    assert cycle >= 1


def test_the_command_runs_the_given_number_of_cycles() -> None:
    done = subprocess.run(hedge_command("sim", "machine", "--opcua-port", str(free_port()),
                                        "--speedup", "200", "--cycles", "20", "--machines", "2"),
                          check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "40 samples published" in done.stdout + done.stderr


def test_the_command_refuses_a_certificate_without_its_key() -> None:
    done = subprocess.run(hedge_command("sim", "machine", "--certificate", "c.der", "--cycles",
                                        "1"), check=False, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0 and "go together" in done.stdout + done.stderr
