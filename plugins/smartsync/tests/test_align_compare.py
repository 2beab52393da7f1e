"""The pairing and comparing rules of ``syncframe align`` on their own: the key cascade,
ambiguity, normalisation, which fields are compared and how values compare."""

from __future__ import annotations

from typing import Any

from syncframe_smartsync.align_compare import (
    PairingKey,
    RowKind,
    SideRecord,
    compare_sides,
    comparison_rows,
    same_value,
    text_of,
)

from syncframe.records import Change, Operation

CASCADE = (PairingKey("constituent_id", "constituent_id"), PairingKey("email", "email", "lower"))


def record(key: str, system: str = "re", **fields: Any) -> SideRecord:
    change = Change(system, "person", {"id": key}, Operation.UPDATE, dict(fields))
    return SideRecord(key, change, dict(fields))


def pairs_of(comparison: Any) -> set[tuple[str, str, str]]:
    return {(p.a.key, p.b.key, p.matched_on) for p in comparison.pairs}


class TestPairing:
    """Records pair key by key, each key only among what earlier keys left."""

    def test_the_binding_key_comes_before_the_email(self) -> None:
        a = [record("a1", constituent_id="1", email="x@example.org")]
        b = [
            record("b1", "mc", constituent_id="1", email="old@example.org"),
            record("b2", "mc", email="X@example.org"),
        ]

        comparison = compare_sides(a, b, CASCADE)

        assert pairs_of(comparison) == {("a1", "b1", "constituent_id 1")}
        assert [u.record.key for u in comparison.only_in_b] == ["b2"]
        assert comparison.only_in_b[0].reason == "no record in A with email x@example.org"

    def test_a_record_without_binding_key_pairs_by_email(self) -> None:
        a = [record("a1", constituent_id="1", email="Ann@Example.org")]
        b = [record("b1", "mc", email="ann@example.org")]

        comparison = compare_sides(a, b, CASCADE)

        # No B record holds a constituent id yet; it is compared all the same (a pairing key).
        assert pairs_of(comparison) == {("a1", "b1", "email ann@example.org")}
        [pair] = comparison.pairs
        assert [(d.field, d.a_value, d.b_value) for d in pair.differences] == [
            ("constituent_id", "1", "")
        ]

    def test_a_value_two_records_of_a_side_share_is_ambiguous(self) -> None:
        a = [
            record("a1", constituent_id="1", email="shared@example.org"),
            record("a2", constituent_id="2", email="shared@example.org"),
        ]
        b = [record("b1", "mc", email="shared@example.org")]

        comparison = compare_sides(a, b, CASCADE)

        assert comparison.pairs == []
        [ambiguity] = comparison.ambiguous
        assert [r.key for r in ambiguity.a] == ["a1", "a2"]
        assert [r.key for r in ambiguity.b] == ["b1"]
        assert comparison.ambiguous_records == 3
        assert (comparison.only_in_a, comparison.only_in_b) == ([], [])

    def test_sharing_is_ambiguous_even_without_a_counterpart(self) -> None:
        # Creating both on the other side would make two records of one email there.
        b = [
            record("b1", "sf", email="twin@example.org"),
            record("b2", "sf", email="TWIN@example.org"),
        ]

        comparison = compare_sides([], b, CASCADE)

        [ambiguity] = comparison.ambiguous
        assert (ambiguity.value, len(ambiguity.a), len(ambiguity.b)) == ("twin@example.org", 0, 2)
        assert comparison.only_in_b == []

    def test_records_an_earlier_key_paired_do_not_make_a_later_key_ambiguous(self) -> None:
        a = [
            record("a1", constituent_id="1", email="family@example.org"),
            record("a2", constituent_id="2", email="family@example.org"),
        ]
        b = [
            record("b1", "mc", constituent_id="1", email="family@example.org"),
            record("b2", "mc", constituent_id="2"),
        ]

        comparison = compare_sides(a, b, CASCADE)

        assert pairs_of(comparison) == {
            ("a1", "b1", "constituent_id 1"),
            ("a2", "b2", "constituent_id 2"),
        }
        assert comparison.ambiguous == []

    def test_a_key_can_name_a_record_key_of_the_other_side(self) -> None:
        # {source = "salesforce_id", target = "id"}: the Contact Id is the record's key.
        keys = (PairingKey("salesforce_id", "id"),)
        a = [record("a1", salesforce_id="003A")]
        b = [SideRecord("003A", Change("sf", "contact", {"id": "003A"}, Operation.UPDATE, {}), {})]

        comparison = compare_sides(a, b, keys)

        assert pairs_of(comparison) == {("a1", "003A", "salesforce_id -> id 003A")}

    def test_records_without_any_key_value_are_only_on_their_side(self) -> None:
        comparison = compare_sides([record("a1", first_name="Nobody")], [], CASCADE)

        assert comparison.only_in_a[0].reason == (
            "no value for any pairing key (constituent_id, email)"
        )

    def test_normalize_applies_to_pairing_and_comparing_the_key(self) -> None:
        keys = (PairingKey("phone", "phone", "digits"),)
        a = [record("a1", phone="(555) 0100")]
        b = [record("b1", "mc", phone="555-0100")]

        comparison = compare_sides(a, b, keys)

        [pair] = comparison.pairs
        assert pair.differences == []


class TestComparing:
    """Values compare as text; the fields compared are those both sides hold."""

    def test_blank_and_missing_are_the_same_and_email_has_no_case(self) -> None:
        assert same_value("phone", None, "")
        assert same_value("email", "Ann@Example.org", "ann@example.org")
        assert not same_value("last_name", "Lee", "lee")
        assert same_value("constituent_id", 10042, "10042")
        assert text_of(["Donor", "VIP"]) == "Donor, VIP"

    def test_a_field_one_record_lacks_is_compared_when_its_side_holds_it(self) -> None:
        a = [record("a1", email="a@example.org", last_name="Lee", nickname="Al")]
        b = [
            record("b1", "mc", email="a@example.org", tags=[]),
            record("b2", "mc", email="b@example.org", last_name="Ng", tags=[]),
        ]

        comparison = compare_sides(a, b, CASCADE)

        # nickname: no B record holds it; tags: no A record does.
        assert comparison.fields == ["email", "last_name"]
        [pair] = comparison.pairs
        assert [(d.field, d.a_value, d.b_value) for d in pair.differences] == [
            ("last_name", "Lee", "")
        ]

    def test_fields_given_are_the_only_ones_compared(self) -> None:
        a = [record("a1", email="a@example.org", first_name="Al", last_name="Lee")]
        b = [record("b1", "mc", email="a@example.org", first_name="Alan", last_name="Ng")]

        comparison = compare_sides(a, b, CASCADE, ["first_name"])

        assert [d.field for d in comparison.pairs[0].differences] == ["first_name"]


def test_report_rows_name_both_records_and_why() -> None:
    a = [
        record("a1", constituent_id="1", email="a@example.org", last_name="Lee"),
        record("a2", constituent_id="2", email="only@example.org"),
    ]
    b = [
        record("b1", "mc", constituent_id="1", email="a@example.org", last_name="Li"),
        record("b3", "mc", email="new@example.org"),
    ]

    rows = comparison_rows(compare_sides(a, b, CASCADE))

    assert [(r.kind, r.a_key, r.b_key, r.field, r.a_value, r.b_value) for r in rows] == [
        (RowKind.DIFFERS, "a1", "b1", "last_name", "Lee", "Li"),
        (RowKind.ONLY_IN_A, "a2", "", "", "", ""),
        (RowKind.ONLY_IN_B, "", "b3", "", "", ""),
    ]
    assert rows[0].reason == "paired on constituent_id 1"
    assert rows[1].as_csv()["reason"] == (
        "no record in B with constituent_id 2 or email only@example.org"
    )
