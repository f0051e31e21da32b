"""``live-trading report``: tables, JSON and the self-contained HTML file, read from the account's journal."""

from __future__ import annotations

import base64
import json
import re

import pytest

from LIVE_TRADING.brokers.paper.recovery import iter_fills
from LIVE_TRADING.cli import main


def run_main(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def ran(capsys, tmp_path):
    """A simulated 40-day run of equal_weight (rebalancing every 5 days), journaled under tmp_path."""
    code, out, _ = run_main(capsys, "run", "--steps", "40", "--bar", "1d", "--strategy", "equal_weight", "--param", "every=5",
                            "--json")
    assert code == 0
    summary = json.loads(out)
    fills = list(iter_fills(tmp_path / "logs" / "paper_trades" / "default", summary["run_id"]))
    assert fills
    return summary, fills


def test_json_report_agrees_with_the_journal(capsys, ran):
    summary, fills = ran
    code, out, _ = run_main(capsys, "report", "--benchmark", "buy-and-hold", "--format", "json")
    assert code == 0
    rep = json.loads(out)
    assert rep["fills"] == len(fills) == summary["fills"]
    assert rep["fees"] == pytest.approx(sum(f["fee"] for f in fills)) == pytest.approx(summary["fees"])
    assert rep["traded_notional"] == pytest.approx(sum(f["notional"] for f in fills))
    assert rep["realized_pnl"] == pytest.approx(summary["realized_pnl"])
    assert rep["performance"]["initial_equity"] == summary["initial_equity"]
    assert rep["pricing"].startswith("bar closes from") and rep["benchmark_name"] == "buy-and-hold"
    assert rep["benchmark"]["initial_equity"] == summary["initial_equity"]
    assert rep["start"] == summary["started_at"]
    assert {s["symbol"] for s in rep["per_symbol"]} == {f["symbol"] for f in fills}
    # P&L by symbol adds up to the change in equity
    change = rep["performance"]["final_equity"] - rep["performance"]["initial_equity"]
    assert sum(s["pnl"] for s in rep["per_symbol"]) == pytest.approx(change)
    assert run_main(capsys, "report", "--json")[0] == 0  # the global --json means --format json


def test_table_report(capsys, ran, tmp_path):
    code, out, _ = run_main(capsys, "report", "--benchmark", "MSFT")
    assert code == 0
    for title in ("Performance", "Trading", "Monthly returns", "P&L by symbol"):
        assert title in out
    assert "benchmark (MSFT)" in out and re.search(r"Sharpe\s+-?[\d.]+\s+-?[\d.]+", out)
    code, out, _err = run_main(capsys, "report", "--output", str(tmp_path / "r.txt"))
    assert code == 0 and out == "" and "Performance" in (tmp_path / "r.txt").read_text()


def test_html_report_is_one_self_contained_file(capsys, ran, tmp_path):
    path = tmp_path / "report.html"
    code, _out, err = run_main(capsys, "report", "--benchmark", "buy-and-hold", "--format", "html",
                              "--output", str(path))
    assert code == 0 and f"report written to {path}" in err
    html = path.read_text()
    for heading in ("Performance", "Monthly returns", "P&amp;L by symbol", "Round trips", "benchmark (buy-and-hold)"):
        assert heading in html
    assert "<script" not in html and "http://" not in html and "https://" not in html  # nothing fetched
    (png,) = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert base64.b64decode(png).startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("report", "--format", "pdf"), "argument --format: invalid choice: 'pdf'"),
        (("report", "--account", "nobody"), "no account at"),
        (("report", "--output", "no/such/dir/r.html"), "--output: directory 'no/such/dir'"),
        (("report", "--benchmark", " "), "benchmark must be 'buy-and-hold' or a symbol"),
    ],
)
def test_bad_report_input_is_exit_2(capsys, ran, args, message):
    code, out, err = run_main(capsys, *args)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and message in err, err


def test_report_on_an_empty_account_is_exit_2(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    code, _, err = run_main(capsys, "report", "--account", str(tmp_path / "empty"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no journal records" in err


def test_run_plot_shows_the_benchmark_and_monthly_returns(capsys, tmp_path):
    from LIVE_TRADING.monitoring.report import report
    from LIVE_TRADING.monitoring.report_html import report_figure
    from LIVE_TRADING.pipeline.results import RunResult

    target = tmp_path / "equity.png"
    code, _, _ = run_main(capsys, "run", "--steps", "30", "--bar", "1d", "--strategy", "equal_weight", "--plot", str(target))
    png = target.read_bytes()
    assert code == 0 and png.startswith(b"\x89PNG")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width == 1000 and height in (690, 720)  # 6 in + the table: 0.6 + 0.3 in per year (1 or 2), 100 dpi

    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    fills = [{"timestamp": t0, "symbol": "A", "side": "BUY", "qty": 1.0, "fill_price": 100.0, "fee": 0.0}]
    result = RunResult(steps_requested=2, started_at=t0, initial_equity=1000.0, fills=fills,
                       equity_curve=[(t0 + timedelta(days=1), 1000.0), (t0 + timedelta(days=40), 1010.0)])
    fig = report_figure(report(result, benchmark="buy-and-hold"), monthly=True)
    top, _, table = fig.axes
    assert [t.get_text() for t in top.get_legend().get_texts()] == ["strategy", "buy-and-hold"]
    assert table.get_title() == "Monthly returns"
