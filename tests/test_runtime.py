import gc

from hedge.runtime import freeze_heap


class Node:
    def __init__(self) -> None:
        self.other: object = self  # a reference cycle: only the collector frees it


def test_freeze_heap_exempts_live_objects_and_still_collects_later_garbage() -> None:
    try:
        frozen = freeze_heap()
        assert frozen == gc.get_freeze_count() > 1000  # modules and classes of the process
        tracked = {id(o) for o in gc.get_objects()}
        assert id(freeze_heap) not in tracked  # frozen objects are out of the generations
        cycle = Node()
        assert id(cycle) in {id(o) for o in gc.get_objects()}
        del cycle
        assert gc.collect() >= 1  # garbage made after the freeze is still collected
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
