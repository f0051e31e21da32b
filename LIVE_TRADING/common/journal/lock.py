"""One writer per account: an exclusive OS lock on ``<account>/LOCK``.

The lock is ``fcntl.flock`` (``filelock``'s lock where ``fcntl`` does not
exist): the operating system releases it when the process ends, however it
ends, so a crash never leaves a stale lock behind. The holder writes its pid,
host and start time into the file so that a waiting process can say who has it.
Readers never take it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from LIVE_TRADING.common.exceptions import AccountLockedError, JournalError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = "LOCK"


def holder_of(account_dir: str | Path) -> dict[str, Any]:
    """What the current (or last) holder wrote into the lock file: ``{pid, host, since}`` or ``{}``."""
    try:
        data = json.loads((Path(account_dir) / LOCK_NAME).read_text("utf-8") or "{}")
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


class AccountLock:
    """An exclusive lock on one account directory; ``acquire(timeout_s)`` then ``release()``."""

    def __init__(self, account_dir: str | Path) -> None:
        self.account_dir = Path(account_dir)
        self.path = self.account_dir / LOCK_NAME
        self._fd: int | None = None
        self._fallback: Any = None

    @property
    def held(self) -> bool:
        return self._fd is not None or self._fallback is not None

    def acquire(self, timeout_s: float = 5.0) -> None:
        """Take the lock, waiting up to ``timeout_s``; ``AccountLockedError`` naming the holder otherwise."""
        if self.held:
            return
        if fcntl is None:  # pragma: no cover - Windows
            self._acquire_filelock(timeout_s)
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise JournalError(f"Cannot open the account lock {self.path}: {exc}") from exc
        deadline = time.monotonic() + max(0.0, timeout_s)
        delay = 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    who = holder_of(self.account_dir)
                    raise AccountLockedError(
                        self.account_dir.name, who.get("pid"), who.get("host"), waited_s=timeout_s
                    ) from None
                time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 2, 0.1)
            except OSError as exc:
                os.close(fd)
                raise JournalError(f"Cannot lock {self.path}: {exc}") from exc
        info = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                           "since": datetime.now(UTC).isoformat()}).encode()
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, info, 0)
        except OSError:  # the lock holds even if the note cannot be written
            pass
        self._fd = fd

    def _acquire_filelock(self, timeout_s: float) -> None:  # pragma: no cover - Windows
        import filelock

        lock = filelock.FileLock(str(self.path) + ".lck")
        try:
            lock.acquire(timeout=timeout_s)
        except filelock.Timeout:
            raise AccountLockedError(self.account_dir.name, waited_s=timeout_s) from None
        self._fallback = lock

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        if self._fallback is not None:  # pragma: no cover - Windows
            self._fallback.release()
            self._fallback = None

    def __del__(self) -> None:  # an abandoned broker must not keep its account locked
        try:
            self.release()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


__all__ = ["LOCK_NAME", "AccountLock", "holder_of"]
