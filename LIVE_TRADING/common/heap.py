"""The garbage collector in a long-running process: start-up objects out of its scans.

A trading process imports pandas, numpy, pyarrow and pydantic: hundreds of
thousands of objects that live as long as the process. CPython's full
collections walk all of them again and again: in a simulated 20,000-step
``run_loop`` of one symbol, one full collection took 58 ms of 500
(``benchmarks/bench_loop.py --no-freeze`` measures without the freeze). ``freeze_startup_heap``, called once when setup is done, runs a last
full collection and moves every object left to the permanent generation
(``gc.freeze``): later collections only look at what the run creates.

Nothing leaks: what was garbage is collected first, and objects created
afterwards are collected as usual. The CLI calls it before a run's loop and
before serving; a pipeline that embeds ``run_loop`` in a long-running process
may call it the same way after its own setup. A library function never calls
it on its own (it changes the whole process's collector).
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect, then freeze every object that is left (``gc.freeze``); returns how many are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


__all__ = ["freeze_startup_heap"]
