"""Journal -> state: replaying records, and reading back what memory no longer holds.

``apply_record`` is the one place where a journal record becomes a state
change; the live broker calls the same ``PaperState.apply_*`` methods with the
same arguments right after writing the record. ``recover`` loads the newest
snapshot and replays the records after it. ``find_order`` and ``read_fills``
read orders and fills that left memory (see ``state``) straight from the journal.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from LIVE_TRADING.brokers.paper.orders import COMPACT_FILL_KEYS, PaperOrder, public_fill
from LIVE_TRADING.brokers.paper.state import PaperState
from LIVE_TRADING.common.constants import FINAL_STATUSES, ORDER_TYPE_MARKET, SIDE_BUY, STATUS_FILLED, TIF_GTC
from LIVE_TRADING.common.exceptions import JournalCorruptError
from LIVE_TRADING.common.journal.format import decode_line
from LIVE_TRADING.common.journal.store import Scan, iter_lines, read_records

#: the keys of a ``Fill`` (the public shape) as journaled in a ``fill`` record
FILL_KEYS = ("order_id", "fill_id", "timestamp", "symbol", "side", "qty", "fill_price", "notional", "fee",
             "fee_currency", "venue", "slippage_bps", "fee_bps", "liquidity")
COMPACT_FILL_KEY_SET = frozenset(COMPACT_FILL_KEYS)
#: the keys of the ``order`` of an ``order`` record of a plain market order (``is_plain_market``)
PLAIN_MARKET_KEYS = frozenset({"order_id", "symbol", "side", "order_type", "qty", "time_in_force"})
#: records that end an open order
END_EVENTS = frozenset({"cancel", "expire", "reject"})
#: records that accept a group of linked orders (issue 14)
LIST_EVENTS = frozenset({"bracket", "oco"})


def list_legs(rec: dict[str, Any]) -> list[tuple[PaperOrder, str, str | None]]:
    """The legs of a ``bracket`` / ``oco`` record: (order as accepted, its status, where it rests)."""
    return [(PaperOrder.from_record(leg["order"], rec["ts"]), leg["status"], leg.get("rest")) for leg in rec["legs"]]


def modify_fills(rec: dict[str, Any], order: PaperOrder, currency: str) -> list[dict[str, Any]]:
    """The public fills of a ``modify`` record (a modified limit that filled at once)."""
    spec = {"order_id": order.order_id, "symbol": order.symbol, "side": order.side}
    return [full_fill(f, spec, rec["ts"], currency) for f in rec.get("fills", ())]


def fill_of(rec: dict[str, Any]) -> dict[str, Any]:
    """The public ``Fill`` dict in a ``fill`` record (timestamp as an aware datetime)."""
    fill = {k: rec[k] for k in FILL_KEYS if k in rec}
    ts = fill.get("timestamp")
    if isinstance(ts, str):
        fill["timestamp"] = datetime.fromisoformat(ts)
    return fill


def full_fill(compact: dict[str, Any], spec: dict[str, Any], ts: Any, currency: str) -> dict[str, Any]:
    """The public ``Fill`` of a fill inside an ``order`` record (it took place at the record's ``ts``)."""
    return public_fill(compact, spec, _ts(ts), currency)


def order_fills(rec: dict[str, Any], currency: str) -> list[dict[str, Any]]:
    """The public fills of an ``order`` record."""
    spec = rec["order"]
    return [full_fill(f, spec, rec["ts"], currency) for f in rec.get("fills", ())]


def is_plain_market(spec: dict[str, Any], fills: Any, status: str) -> bool:
    """Whether an ``order`` record is a market order (gtc, nothing optional) filled at once by one fill.

    ``PaperState.apply_market`` applies such a record (the broker's hot path
    writes them); every other ``order`` record goes to ``apply_order``.
    """
    return (status == STATUS_FILLED and len(spec) == len(PLAIN_MARKET_KEYS) and spec.keys() == PLAIN_MARKET_KEYS
            and spec["order_type"] == ORDER_TYPE_MARKET and spec["time_in_force"] == TIF_GTC
            and isinstance(fills, list) and len(fills) == 1 and fills[0].keys() == COMPACT_FILL_KEY_SET)


def _ts(value: Any) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def apply_record(state: PaperState, rec: dict[str, Any]) -> None:
    """Apply one journal record to ``state`` (records that change nothing are skipped)."""
    event, seq = rec["event"], rec["seq"]
    try:
        if event == "order":
            spec = rec["order"]
            fills = rec.get("fills")
            if is_plain_market(spec, fills, rec["status"]):
                assert fills is not None
                side = spec["side"]
                state.apply_market(spec["order_id"], spec["symbol"], side, side == SIDE_BUY, float(spec["qty"]),
                                   _ts(rec["ts"]), fills[0], seq)
            else:
                order = PaperOrder.from_record(spec, rec["ts"])
                state.apply_order(order, order_fills(rec, state.currency), rec["status"], rec.get("rest"), seq)
        elif event == "fill":
            state.apply_fill(rec["order_id"], fill_of(rec), rec["status"], rec.get("rest"), seq,
                             bool(rec.get("triggered")))
            if rec.get("links"):
                state.apply_links(rec["links"], seq)
        elif event == "trigger":
            state.apply_trigger(rec["order_id"], seq)
        elif event in END_EVENTS:
            if rec.get("order_id"):
                state.apply_end(rec["order_id"], rec["status"])
                if rec.get("links"):
                    state.apply_links(rec["links"], seq)
        elif event == "trail":
            state.apply_trail(rec["order_id"], rec["trigger"], seq)
        elif event == "modify":
            order = state.open[rec["order_id"]]
            state.apply_modify(rec["order_id"], rec["qty"], rec.get("limit_price"), rec.get("stop_price"),
                               modify_fills(rec, order, state.currency), rec["status"], rec.get("rest"),
                               bool(rec["keep_priority"]), bool(rec.get("triggered")), seq)
            if rec.get("links"):
                state.apply_links(rec["links"], seq)
        elif event in LIST_EVENTS:
            legs = list_legs(rec)
            spec = rec["legs"][0]["order"]
            fills = [full_fill(f, spec, rec["ts"], state.currency) for f in rec.get("fills", ())]
            state.apply_list(rec["list_id"], legs, fills, seq, rec.get("client_order_id"), rec.get("request"))
        elif event == "snapshot":
            state.restore(rec["state"], seq)
        elif event == "open":
            state.reset(rec["initial_cash"], seq, rec["run_id"], _ts(rec["ts"]))
            state.tag, state.currency = rec["tag"], rec["currency"]
        elif event == "reset":
            state.reset(rec["initial_cash"], seq, rec["run_id"], _ts(rec["ts"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise JournalCorruptError(f"record {event!r} cannot be applied ({type(exc).__name__}: {exc}); "
                                  "it does not fit the records before it", seq=seq) from exc


def recover(state: PaperState, scan: Scan) -> int:
    """Rebuild ``state`` from the newest snapshot and the records after it; return how many were applied."""
    newest = scan.newest_snapshot
    start = (newest[0], newest[1]) if newest else (0, 0)
    n = 0
    for raw in iter_lines(scan, start):
        apply_record(state, decode_line(raw))
        n += 1
    return n


def _records_from(account_dir: Path, seq: int) -> Iterator[dict[str, Any]]:
    return read_records(account_dir, since_seq=seq, verify=False)


def find_order(account_dir: Path, order_id: str, seq: int, upto: int) -> dict[str, Any] | None:
    """An order that left memory, rebuilt from its records (from its accepting ``seq`` to ``upto``)."""
    order: PaperOrder | None = None
    for rec in _records_from(account_dir, seq):
        if rec["seq"] > upto:
            break
        if rec["event"] == "order" and rec["order"]["order_id"] == order_id:
            order = PaperOrder.from_record(rec["order"], rec["ts"])
            for f in rec.get("fills", ()):
                _add_fill(order, f)
            order.status = rec["status"]
        elif order is None and rec["event"] in LIST_EVENTS:
            for i, (leg, status, _rest) in enumerate(list_legs(rec)):
                if leg.order_id == order_id:
                    leg.status = status
                    for f in rec.get("fills", ()) if i == 0 else ():
                        _add_fill(leg, f)
                    order = leg
        elif order is not None and rec.get("links"):
            _follow_links({order_id: order}, rec)
        if order is not None and rec.get("order_id") == order_id and rec["event"] != "order":
            if rec["event"] == "fill":
                _add_fill(order, rec)
                order.triggered = order.triggered or bool(rec.get("triggered"))
            elif rec["event"] == "trigger":
                order.triggered = True
            else:
                _change(order, rec)
            if "status" in rec:
                order.status = rec["status"]
        if order is not None and order.status in FINAL_STATUSES:
            break
    return order.result() if order is not None else None


def read_orders(account_dir: Path, from_seq: int, upto: int) -> list[dict[str, Any]]:
    """Every order accepted with ``from_seq <= seq <= upto``, in its latest state, oldest first."""
    orders: dict[str, PaperOrder] = {}
    for rec in _records_from(account_dir, from_seq):
        if rec["seq"] > upto:
            break
        event = rec["event"]
        if event == "order":
            order = orders[rec["order"]["order_id"]] = PaperOrder.from_record(rec["order"], rec["ts"])
            for f in rec.get("fills", ()):
                _add_fill(order, f)
            order.status = rec["status"]
        elif event in LIST_EVENTS:
            for i, (leg, status, _rest) in enumerate(list_legs(rec)):
                orders[leg.order_id], leg.status = leg, status
                for f in rec.get("fills", ()) if i == 0 else ():
                    _add_fill(leg, f)
            continue
        if rec.get("links"):
            _follow_links(orders, rec)
        if event != "order" and (order_ := orders.get(rec.get("order_id") or "")) is not None:
            if event == "fill":
                _add_fill(order_, rec)
            if event in ("fill", "trigger"):
                order_.triggered = order_.triggered or event == "trigger" or bool(rec.get("triggered"))
            _change(order_, rec)
            if "status" in rec:
                order_.status = rec["status"]
    return [o.result() for o in orders.values()]


def _change(order: PaperOrder, rec: dict[str, Any]) -> None:
    """What a ``modify`` or ``trail`` record changes in an order (for the journal readers)."""
    if rec["event"] == "modify":
        order.qty, order.limit_price, order.stop_price = rec["qty"], rec.get("limit_price"), rec.get("stop_price")
        for f in rec.get("fills", ()):
            _add_fill(order, f)
        order.triggered = order.triggered or bool(rec.get("triggered"))
    elif rec["event"] == "trail":
        order.stop_price = rec["trigger"]


def _follow_links(orders: dict[str, PaperOrder], rec: dict[str, Any]) -> None:
    """The other legs' quantity and status after a record with ``links`` (for the journal readers)."""
    for link in rec["links"]:
        leg = orders.get(link["order_id"])
        if leg is not None and leg.order_id != rec.get("order_id"):
            leg.qty, leg.status = link["qty"], link["status"]


def _add_fill(order: PaperOrder, f: dict[str, Any]) -> None:
    order.filled_qty += f["qty"]
    order.filled_notional += f["notional"]
    order.fee += f["fee"]
    order.nfills += 1


def read_fills(account_dir: Path, from_seq: int, to_seq: int, currency: str) -> list[dict[str, Any]]:
    """The fills journaled with ``from_seq <= seq < to_seq``, in order."""
    out: list[dict[str, Any]] = []
    for rec in _records_from(account_dir, from_seq):
        if rec["seq"] >= to_seq:
            break
        if rec["event"] == "order":
            out.extend(order_fills(rec, currency))
        elif rec["event"] == "fill":
            out.append(fill_of(rec))
        else:
            out.extend(extra_fills(rec, currency))
    return out


def extra_fills(rec: dict[str, Any], currency: str) -> list[dict[str, Any]]:
    """The public fills of the issue-14 records that can carry some (``bracket`` entry, ``modify``)."""
    if not rec.get("fills"):
        return []
    if rec["event"] in LIST_EVENTS:
        spec = rec["legs"][0]["order"]
        return [full_fill(f, spec, rec["ts"], currency) for f in rec["fills"]]
    if rec["event"] == "modify":
        spec = {"order_id": rec["order_id"], "symbol": rec["symbol"], "side": rec["side"]}
        return [full_fill(f, spec, rec["ts"], currency) for f in rec["fills"]]
    return []


def iter_fills(account_dir: str | Path, run_id: str | None = None) -> Iterator[dict[str, Any]]:
    """Every fill of a paper account's journal (or of its run ``run_id``), in order.

    Fills are in ``order`` records (taken at once) and ``fill`` records (resting orders).
    """
    currency, run = "", None
    for rec in read_records(account_dir):
        event = rec["event"]
        if event in ("open", "reset"):
            run = rec["run_id"]
            currency = rec.get("currency", currency)
        if run_id is not None and run != run_id:
            continue
        if event == "order":
            yield from order_fills(rec, currency)
        elif event == "fill":
            yield fill_of(rec)
        else:
            yield from extra_fills(rec, currency)


__all__ = ["COMPACT_FILL_KEYS", "FILL_KEYS", "apply_record", "fill_of", "find_order", "full_fill", "is_plain_market", "iter_fills", "order_fills", "read_fills", "read_orders", "recover"]
