"""The package's layout rules (issue 11), checked on the source so they keep holding.

- A module longer than about 400 lines says in its docstring why it is one module.
- Optional broker / provider abilities are asked through the capability protocols
  (``supports``, ``find_layer``, ``isinstance`` with a ``Supports*`` protocol), never by
  probing for a method or attribute with ``getattr`` / ``hasattr``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*(ROOT / "LIVE_TRADING").rglob("*.py"), *(ROOT / "CONFIG").rglob("*.py")])
LIMIT = 420  # "about 400 lines"
REASON = re.compile(r"(?i)why one module|longer than \d+ lines because|long because")

#: method / attribute names of the broker and provider capabilities: probing any of them is a capability probe
CAPABILITY_NAMES = (
    "get_account_summary", "get_position_details", "get_portfolio_value", "venue_health", "health", "metrics",
    "data_provider", "update_quotes", "apply_quotes", "journal", "_journal", "orders_frame", "fills_frame",
    "unwrap", "inner", "account_dir", "run_id", "write_batch", "knows", "known_symbols", "get_recent_bars",
    "get_fills", "get_order", "now", "circuit", "venue_data", "close", "reconcile",
)
_NAMES = "|".join(map(re.escape, CAPABILITY_NAMES))
PROBE = re.compile(r"""(?:getattr|hasattr)\(\s*[\w.()]+,\s*["'](""" + _NAMES + r""")["']""")


def test_every_long_module_says_why_it_is_one_module():
    unexplained = []
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        if text.count("\n") <= LIMIT:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        if not REASON.search(doc):
            unexplained.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    assert not unexplained, "modules over ~400 lines without a reason in their docstring: " + ", ".join(unexplained)


def test_no_getattr_capability_probes():
    probes = []
    for path in SOURCES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if PROBE.search(line):
                probes.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not probes, "capability probes (use the Supports* protocols):\n" + "\n".join(probes)


def test_the_probe_pattern_finds_a_probe():
    """The check above can fail: it recognises the probes it forbids."""
    assert PROBE.search('fn = getattr(self.broker, "health", None)')
    assert PROBE.search("if hasattr(b, 'get_order'):")
    assert not PROBE.search('value = getattr(order, "trailingPercent", None)')
