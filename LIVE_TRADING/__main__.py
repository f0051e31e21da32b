"""``python -m LIVE_TRADING`` is the ``live-trading`` command."""

from LIVE_TRADING.cli import main

raise SystemExit(main())
