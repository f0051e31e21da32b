"""The progress bar of long commands (``run``, ``data fetch``): on a terminal only.

``progress_bar(out, total, label)`` draws ``label  ━━━━  3/10  0:00:04  eta 0:00:09  status``
on stderr while the work runs and removes it when done. Nothing is drawn
when stderr is not a terminal (piped, redirected, a CI log) or with ``--json``,
so scripted output stays clean.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from LIVE_TRADING.cli.render import Output

#: seconds of progress the ETA is estimated from (rich's default, 30 s, shows no ETA at all when one
#: step takes longer: a live run's step every minute, a slow symbol's download)
SPEED_WINDOW_S = 600.0

#: ``update(completed, status="")``: how many of ``total`` are done, and a short status (rich markup)
Update = Callable[..., None]


@contextlib.contextmanager
def progress_bar(out: Output, total: int, label: str, *, redraw_each: bool = False) -> Iterator[Update]:
    """A bar with an ETA on stderr (a terminal only, never with ``--json``); yields ``update(completed, status)``.

    The bar is redrawn ten times a second; ``redraw_each`` also redraws it at every update (for work of a few
    slow items, such as a download per symbol, where a quick item could otherwise pass unseen)."""
    disable = out.json_mode or not out.err.is_terminal
    progress = Progress(
        TextColumn(f"[bold]{escape(label)}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("eta"), TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"), console=out.err, transient=True, disable=disable,
        speed_estimate_period=SPEED_WINDOW_S,
    )
    with progress:
        task = progress.add_task(label, total=total, status="")

        def update(completed: int, status: str = "") -> None:
            progress.update(task, completed=completed, status=status, refresh=redraw_each)

        yield update


__all__ = ["SPEED_WINDOW_S", "Update", "progress_bar"]
