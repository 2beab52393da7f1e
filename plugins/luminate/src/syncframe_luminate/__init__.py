"""Luminate Online for syncframe.

The web-services transaction sync (seed 003) with refund reconciliation, constituents both ways,
and the sinks a user of that sync wants: a SQL database and one CSV/JSONL file per type per sync
window. Registered through the entry point ``luminate`` (``syncframe_luminate.plugin``).
"""
