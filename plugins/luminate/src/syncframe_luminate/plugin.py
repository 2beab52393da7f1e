"""The hook implementations of the Luminate plugin (entry point ``luminate``).

Filled in as the components land; see ``docs/luminate.md``.
"""
