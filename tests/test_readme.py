"""The README's pipeline example runs as written (on the default config: paper + sim)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _run_pipeline_example(monkeypatch, now: datetime) -> dict:
    """Run the README's loop with the system clock reading ``now`` (a fixed time)."""
    import LIVE_TRADING.brokers.paper.broker as paper_broker
    import LIVE_TRADING.data.sim as sim

    monkeypatch.setattr(paper_broker, "utc_now", lambda: now)
    monkeypatch.setattr(sim, "utc_now", lambda: now)
    text = README.read_text()
    section = text[text.index("## Use it from a pipeline"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    return namespace


def test_readme_pipeline_example_runs(capsys, monkeypatch):
    wednesday = datetime(2025, 12, 3, 15, 0, tzinfo=UTC)  # 10:00 New York: the NYSE is open
    broker = _run_pipeline_example(monkeypatch, wednesday)["broker"]
    assert broker.get_positions() == {"AAPL": 10, "MSFT": 5}
    assert len(broker.get_fills()) == 2  # the first step buys, later steps have nothing to do
    assert "AAPL" in capsys.readouterr().out


def test_readme_pipeline_example_places_nothing_on_a_saturday(monkeypatch):
    saturday = datetime(2025, 12, 6, 15, 0, tzinfo=UTC)
    broker = _run_pipeline_example(monkeypatch, saturday)["broker"]
    assert broker.get_positions() == {} and broker.get_open_orders() == []


def test_readme_shows_the_ci_test_command():
    ci = (README.parent / ".ci" / "run").read_text()
    command = next(line for line in ci.splitlines() if line.startswith("python -m pip install"))
    assert command in README.read_text()


def test_readme_trading_hours_example_runs(capsys):
    text = README.read_text()
    section = text[text.index("## Trading hours"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out.splitlines() == ["2025-12-08 14:30:00+00:00", "filled"]
