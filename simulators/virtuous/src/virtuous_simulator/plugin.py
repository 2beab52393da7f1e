"""Registers syncframe-simulator-virtuous with syncframe (entry point ``virtuous_simulator``)."""
