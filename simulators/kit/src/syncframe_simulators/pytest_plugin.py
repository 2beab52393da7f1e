"""pytest plugin (filled in by the kit work)."""
