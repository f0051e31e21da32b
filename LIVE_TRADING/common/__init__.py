"""Shared pieces: constants, the error tree, the journal, clocks and settings."""
