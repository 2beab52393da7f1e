"""Luminate Online simulator."""
