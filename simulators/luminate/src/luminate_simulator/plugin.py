"""Registers the Luminate simulator with syncframe (filled in)."""
