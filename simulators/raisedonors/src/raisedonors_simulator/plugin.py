"""Registers syncframe-simulator-raisedonors with syncframe (entry point ``raisedonors_simulator``)."""
