"""The admin client of the Raiser's Edge simulator: the kit's :class:`SimulatorAdmin` plus one
method per RE admin route (``/_admin/raisers_edge/...``).

``RaisersEdgeSimulator.admin()`` gives one wired in-process; ``RaisersEdgeAdmin.for_url(url)``
one for a served simulator. Every method raises ``SimulatorAdminError`` when the API refuses.
"""

from __future__ import annotations

from typing import Any, Final

from syncframe_simulators import SimulatorAdmin

__all__ = ["RaisersEdgeAdmin"]

_RE: Final = "raisers_edge"


class RaisersEdgeAdmin(SimulatorAdmin):
    """What people do in RE itself: users, code tables, constituents and gifts, imports."""

    async def settings(self) -> dict[str, Any]:
        """``{"auto_import": bool, "available": bool}``."""
        result: dict[str, Any] = await self.get(f"{_RE}/settings")
        return result

    async def set_auto_import(self, enabled: bool) -> dict[str, Any]:
        """Switch the opt-in auto-import (files imported as they arrive) on or off."""
        result: dict[str, Any] = await self.post(f"{_RE}/settings", {"auto_import": enabled})
        return result

    async def set_available(self, available: bool) -> dict[str, Any]:
        """Switch the database on or off (off: every query answers 503)."""
        result: dict[str, Any] = await self.post(f"{_RE}/settings", {"available": available})
        return result

    async def add_user(self, name: str, password: str) -> None:
        """Add an RE user for the query interface (or change a user's password)."""
        await self.post(f"{_RE}/users", {"name": name, "password": password})

    async def set_code(
        self, table: str, code: str, description: str = "", *, active: bool = True
    ) -> dict[str, Any]:
        """Add or change an entry of the Campaign, Fund or Appeal table."""
        result: dict[str, Any] = await self.post(
            f"{_RE}/code-tables/{table}",
            {"code": code, "description": description, "active": active},
        )
        return result

    async def add_constituent(self, **fields: Any) -> dict[str, Any]:
        """Add a constituent (fields of the query interface); the constituent as stored."""
        result: dict[str, Any] = await self.post(f"{_RE}/constituents", fields)
        return result

    async def constituent(self, import_id: str) -> dict[str, Any]:
        """A constituent with ``date_added``, ``requests_no_email`` and its ``gifts``."""
        result: dict[str, Any] = await self.get(f"{_RE}/constituents/{import_id}")
        return result

    async def modify_constituent(self, import_id: str, **changes: Any) -> dict[str, Any]:
        """Change a constituent as an RE user would (moves ``date_changed``)."""
        response = await self.request("PATCH", f"{_RE}/constituents/{import_id}", json=changes)
        result: dict[str, Any] = response.json()
        return result

    async def add_gift(self, **fields: Any) -> dict[str, Any]:
        """Add a gift or pledge (``type="Pledge"``); the gift as stored."""
        result: dict[str, Any] = await self.post(f"{_RE}/gifts", fields)
        return result

    async def sample(
        self, constituents: int = 1000, gifts: int = 5000, seed: int = 0
    ) -> dict[str, int]:
        """Add the generated sample database; how many records of each case it made."""
        result: dict[str, int] = await self.post(
            f"{_RE}/sample", {"constituents": constituents, "gifts": gifts, "seed": seed}
        )
        return result

    async def import_file(self, name: str) -> dict[str, Any]:
        """Import a file of the import area now (``POST /_admin/import-area/{name}/import``);
        its outcome with the exceptions. A refused file raises (422, the reason)."""
        result: dict[str, Any] = await self.post(f"import-area/{name}/import")
        return result

    async def remove_file(self, name: str) -> None:
        """Delete a file from the import area."""
        await self.request("DELETE", f"{_RE}/import-area/{name}")

    async def imports(self) -> list[dict[str, Any]]:
        """Every import run, oldest first (counts, no exception rows)."""
        result: list[dict[str, Any]] = (await self.get(f"{_RE}/imports"))["imports"]
        return result

    async def exceptions(self, file: str | None = None) -> list[dict[str, Any]]:
        """The exceptions report (``file``, ``line``, ``field``, ``reason``) of the latest
        import of each file, or of ``file``."""
        params = {"file": file} if file is not None else {}
        result: list[dict[str, Any]] = (await self.get(f"{_RE}/exceptions", **params))["exceptions"]
        return result
