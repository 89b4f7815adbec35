"""Run the `hedge` command in-process, as the CLI tests do."""

from __future__ import annotations

from collections.abc import Callable

from typer.testing import CliRunner

from hedge.cli.main import app

_runner = CliRunner()


def invoker(env: dict[str, str] | None = None) -> Callable[..., str]:
    """`hedge(*args, env=None)`: run `hedge ARGS` with `env` (default: the one given here);
    its output, or the exception the command raised; any other non-zero exit fails the test."""

    def hedge(*args: object, env: dict[str, str] | None = None) -> str:
        result = _runner.invoke(app, [str(a) for a in args], env=env or default)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        assert result.exit_code == 0, result.output
        return str(result.output)

    default = env
    return hedge
