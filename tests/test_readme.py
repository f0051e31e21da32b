"""The README's pipeline example runs as written (on the default config: paper + sim)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_pipeline_example_runs(capsys):
    text = README.read_text()
    section = text[text.index("## Use it from a pipeline"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    broker = namespace["broker"]
    assert broker.get_positions() == {"AAPL": 10, "MSFT": 5}
    assert len(broker.get_fills()) == 2  # the first step buys, later steps have nothing to do
    assert "AAPL" in capsys.readouterr().out


def test_readme_shows_the_ci_test_command():
    ci = (README.parent / ".ci" / "run").read_text()
    command = next(line for line in ci.splitlines() if line.startswith("python -m pip install"))
    assert command in README.read_text()
