"""The syncframe simulator kit."""
