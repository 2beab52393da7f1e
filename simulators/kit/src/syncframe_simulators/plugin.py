"""Registers the kit with syncframe (filled in by the kit work)."""
