"""`hedge sim machine` in-process: it runs its cycles with the start-up heap frozen."""

from __future__ import annotations

import gc

from tests.cli.invoke import invoker


def test_the_simulated_machine_runs_with_its_heap_frozen() -> None:
    hedge = invoker()
    try:
        out = hedge("sim", "machine", "--opcua-port", "0", "--cycles", "3")
        assert "3 samples published" in out
        assert gc.get_freeze_count() > 0  # frozen before the first cycle
    finally:
        gc.unfreeze()
