"""Registers syncframe-simulator-re-nxt with syncframe (entry point ``re_nxt_simulator``)."""
