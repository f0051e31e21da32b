"""Errors of the command line itself (kept free of heavy imports so ``--help`` stays quick)."""

from __future__ import annotations


class UsageError(Exception):
    """Bad command-line input (exit code 2)."""


__all__ = ["UsageError"]
