"""``freeze_startup_heap``: start-up objects leave the collector's scans, garbage is collected first."""

from __future__ import annotations

import gc
import weakref

import pytest

from LIVE_TRADING.cli import main
from LIVE_TRADING.common.heap import freeze_startup_heap


@pytest.fixture
def unfrozen():
    """Each test starts and ends with nothing frozen (the freeze is process-wide)."""
    gc.unfreeze()
    yield
    gc.unfreeze()


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_garbage_is_collected_first_then_what_is_left_is_frozen(unfrozen):
    collected = []
    a, b = _Node(), _Node()
    a.other, b.other = b, a  # a reference cycle: only the collector can free it
    weakref.finalize(a, collected.append, "a")
    del a, b
    kept = _Node()
    assert gc.get_freeze_count() == 0

    frozen = freeze_startup_heap()

    assert collected == ["a"]  # the cycle was freed before the freeze, not kept forever
    assert frozen == gc.get_freeze_count() > 0
    assert not any(obj is kept for obj in gc.get_objects())  # in the permanent generation: out of the scans
    later = _Node()
    assert any(obj is later for obj in gc.get_objects())  # objects made afterwards are collected as usual


def test_the_cli_run_freezes_the_start_up_heap_before_its_loop(unfrozen, capsys):
    assert main(["run", "--steps", "3", "--strategy", "equal_weight", "--json"]) == 0
    assert gc.get_freeze_count() > 0
