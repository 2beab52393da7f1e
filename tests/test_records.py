"""The change envelope."""

from __future__ import annotations

from datetime import UTC, datetime

from syncframe.records import Change, Operation, Origin


def make(**over: object) -> Change:
    values: dict[str, object] = {
        "system": "crm",
        "entity": "contact",
        "keys": {"id": "42", "email": "a@example.org"},
        "operation": Operation.UPDATE,
        "fields": {"first": "Ann", "last": "Lee"},
        "occurred_at": datetime(2026, 5, 1, 12, tzinfo=UTC),
    }
    values.update(over)
    return Change(**values)  # type: ignore[arg-type]


class TestChangeId:
    """The change id is deterministic and depends on every part of the change."""

    def test_same_change_same_id_regardless_of_field_order(self) -> None:
        a = make(fields={"first": "Ann", "last": "Lee"})
        b = make(fields={"last": "Lee", "first": "Ann"})
        assert a.change_id == b.change_id
        assert len(a.change_id) == 32

    def test_any_difference_changes_the_id(self) -> None:
        base = make().change_id
        assert make(fields={"first": "Anne", "last": "Lee"}).change_id != base
        assert make(operation=Operation.DELETE).change_id != base
        assert make(system="mail").change_id != base
        assert make(occurred_at=None).change_id != base

    def test_a_native_id_is_kept(self) -> None:
        assert make(change_id="native-1").change_id == "native-1"

    def test_replace_keeps_the_id(self) -> None:
        change = make()
        assert change.replace(fields={"x": 1}).change_id == change.change_id


class TestShape:
    """Keys, description and the dict round trip."""

    def test_primary_key_is_the_first(self) -> None:
        assert make().key == "42"
        assert make().describe() == "crm.contact[id=42, email=a@example.org]"

    def test_round_trip(self) -> None:
        change = make(origin=Origin("crm", "f", "r1", "admin_portal"))
        again = Change.from_dict(change.to_dict())
        assert again == change
        assert again.origin == Origin("crm", "f", "r1", "admin_portal")
