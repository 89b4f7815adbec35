"""Process settings for long-running services whose latency matters (the edge agent, the
simulated machines).

CPython's cyclic garbage collector, in a full (oldest-generation) collection, walks every
tracked object while holding the GIL: with pandas, scikit-learn, SEAL and asyncua's type
tables loaded that is 86–114 ms (`benchmarks/ingest.py` measures it) during which no thread
of the process runs. For the edge agent at 1,000 cycles/s such a pause was the whole tail of
the alert latency (p99 from about 20 ms to 50–150 ms). `freeze_heap` collects once and then
moves every object alive at start-up (modules, classes, the loaded model) into the collector's
permanent generation: later full collections walk only what was created since, and the pause
disappears. Objects frozen
stay alive until `gc.unfreeze()`; garbage made later is collected as usual."""

from __future__ import annotations

import gc

__all__ = ["freeze_heap"]


def freeze_heap() -> int:
    """Collect, then exempt everything alive now from later collections; returns the number
    of objects frozen (all of them, this call's and earlier calls')."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
