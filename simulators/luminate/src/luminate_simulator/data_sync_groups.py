"""Luminate groups, as far as the RE connector needs them: a named set of constituents that a
client admin may map to a Raiser's Edge **offline segment** (RE stores it as a constituent
code). Centers, interests, dynamic group rules and the group upload are not simulated.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from luminate_simulator._faults import AdminError, AdminNotFound
from luminate_simulator.constituents import ConstituentDirectory

__all__ = ["FIRST_GROUP_ID", "SEGMENT_MAX_LENGTH", "Group", "GroupStore"]

FIRST_GROUP_ID: Final = 1001
#: Longest segment name accepted (RE constituent codes are short; 50 leaves room).
SEGMENT_MAX_LENGTH: Final = 50


@dataclass(slots=True)
class Group:
    group_id: int
    name: str
    # An ordered set of CONS_IDs (dict keys keep the order members joined in).
    members: dict[int, None] = field(default_factory=dict)
    offline_segment: str | None = None
    mapped_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "group_id": self.group_id,
            "name": self.name,
            "members": list(self.members),
            "offline_segment": self.offline_segment,
            "mapped_at": self.mapped_at,
        }


class GroupStore:
    """Every group of the site, by id."""

    def __init__(self) -> None:
        self.groups: dict[int, Group] = {}
        self._next_id = FIRST_GROUP_ID

    def clear(self) -> None:
        self.groups.clear()
        self._next_id = FIRST_GROUP_ID

    def get(self, group_id: int) -> Group:
        group = self.groups.get(group_id)
        if group is None:
            raise AdminNotFound(f"group_id: there is no group {group_id}")
        return group

    def add(self, name: str, members: Iterable[int], directory: ConstituentDirectory) -> Group:
        clean = name.strip()
        if not clean:
            raise AdminError("name: a group needs a name")
        if any(g.name.lower() == clean.lower() for g in self.groups.values()):
            raise AdminError(f"name: a group named {clean!r} exists already")
        checked = _members(members, directory)
        group = Group(self._next_id, clean, dict.fromkeys(checked))
        self._next_id += 1
        self.groups[group.group_id] = group
        return group

    def add_members(
        self, group_id: int, cons_ids: Iterable[int], directory: ConstituentDirectory
    ) -> list[int]:
        """Add constituents to a group; returns those that were not members yet."""
        group = self.get(group_id)
        joined = [c for c in _members(cons_ids, directory) if c not in group.members]
        group.members.update(dict.fromkeys(joined))
        return joined

    def map_segment(self, group_id: int, segment: str, at: datetime) -> Group:
        group = self.get(group_id)
        clean = segment.strip()
        if not clean:
            raise AdminError("segment: give the name of the Raiser's Edge offline segment")
        if len(clean) > SEGMENT_MAX_LENGTH:
            raise AdminError(
                f"segment: {clean!r} is longer than {SEGMENT_MAX_LENGTH} characters ({len(clean)})"
            )
        group.offline_segment = clean
        group.mapped_at = at
        return group


def _members(cons_ids: Iterable[int], directory: ConstituentDirectory) -> list[int]:
    checked: list[int] = []
    for cons_id in cons_ids:
        cons = directory.get(cons_id)
        if cons is None:
            raise AdminNotFound(f"members: there is no constituent {cons_id}")
        if not cons.active:
            raise AdminError(f"members: constituent {cons_id} is Removed")
        if cons_id not in checked:
            checked.append(cons_id)
    return checked
