"""One journal line: encoding and checking (pure functions, no I/O).

A record is one line of UTF-8 JSON::

    {"seq":42,"event":"fill","ts":"2026-01-05T14:30:00+00:00",...,"crc":"89abcdef"}

* ``seq`` comes first: a strictly increasing integer, 1 for the account's first record.
* ``crc`` comes last: the CRC-32 (``zlib.crc32``, 8 lowercase hex digits) of the
  line's bytes *before* ``,"crc":"`` — so any program can check a line without
  re-serialising it: ``zlib.crc32(line[:line.rindex(b',"crc":"')])``.
* everything else is the payload; ``event`` names its kind (see ``records``).

A line is written whole by one ``write``; a crash mid-write leaves a *torn* last
line (no newline, or a failed check), the one thing recovery repairs by itself.
"""

from __future__ import annotations

import zlib
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson

_CRC_MARK = b',"crc":"'
_PREFIX = b'{"seq":'
_crc32 = zlib.crc32


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime | date):  # pragma: no cover - orjson handles datetimes itself
        return obj.isoformat()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def encode_payload(payload: dict[str, Any]) -> bytes:
    """The payload as compact JSON (datetimes as ISO-8601). ``TypeError`` for what JSON cannot hold."""
    return orjson.dumps(payload, _default)


#: a line is ``LINE_HEAD % (seq, payload without its braces)``, then ``LINE_TAIL % (head, CRC-32 of head)``
LINE_HEAD = b'{"seq":%d,%b'
LINE_TAIL = b'%b,"crc":"%08x"}\n'


def encode_line(seq: int, body: bytes) -> bytes:
    """A whole line for ``seq`` and an encoded payload (``encode_payload``), newline included."""
    head = LINE_HEAD % (seq, body[1:-1])
    return LINE_TAIL % (head, _crc32(head))


def check_line(raw: bytes) -> int | None:
    """The line's ``seq`` if it is whole and its checksum holds, else ``None``.

    ``raw`` may end with or without its newline.
    """
    line = raw[:-1] if raw.endswith(b"\n") else raw
    i = line.rfind(_CRC_MARK)
    if i < 0 or not line.startswith(_PREFIX) or len(line) - i != 18 or not line.endswith(b'"}'):
        return None
    try:
        if int(line[i + 8: i + 16], 16) != zlib.crc32(line[:i]):
            return None
        return int(line[7: line.index(b",", 7)])
    except ValueError:
        return None


def decode_line(raw: bytes) -> dict[str, Any]:
    """The record of a checked line (``check_line`` first), ``crc`` removed."""
    record: dict[str, Any] = orjson.loads(raw)
    record.pop("crc", None)
    return record


def line_event(raw: bytes) -> bytes:
    """The ``event`` of a line without parsing it (``b""`` if not in first place after seq)."""
    j = raw.find(b',"event":"', 7, 40)
    if j < 0:
        return b""
    k = raw.find(b'"', j + 10)
    return raw[j + 10: k]


__all__ = ["LINE_HEAD", "LINE_TAIL", "check_line", "decode_line", "encode_line", "encode_payload", "line_event"]
