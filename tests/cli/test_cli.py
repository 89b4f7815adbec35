"""The `hedge` command line."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from hedge import __version__
from hedge.cli.main import app

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"hedge {__version__}"


@pytest.mark.parametrize("args", [["--help"], ["presets", "--help"], ["selfcheck", "--help"]])
def test_every_command_has_help(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_presets_lists_all_three() -> None:
    result = runner.invoke(app, ["presets"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name, n in (("fast", "8192"), ("standard", "16384"), ("deep", "32768")):
        assert name in result.output and n in result.output


def test_selfcheck_passes_on_the_fast_preset() -> None:
    result = runner.invoke(app, ["selfcheck"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "all checks passed" in result.output
    assert "FAILED" not in result.output


def test_selfcheck_refuses_unknown_preset() -> None:
    result = runner.invoke(app, ["selfcheck", "--preset", "nope"])
    assert result.exit_code == 2
    assert "unknown preset" in result.output


def test_console_script_turns_hedge_errors_into_messages(tmp_path: object) -> None:
    code = ("import sys; sys.argv=['hedge','selfcheck','--preset','fast'];"
            "from hedge.cli.main import run, app;"
            "from hedge import ParameterError;"
            "import hedge.cli.engine as e;"
            "err=ParameterError('bad input, fix it'); err.add_note('and what was left');"
            "e.run_checks=lambda p: (_ for _ in ()).throw(err);"
            "run()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert "error:" in proc.stderr and "bad input, fix it" in proc.stderr
    assert "note: and what was left" in proc.stderr
    assert "Traceback" not in proc.stderr
