"""Salesforce ids: the 18-character case-safe form and the sequence the org hands out."""

from __future__ import annotations

import pytest
from salesforce_simulator.ids import IdMinter, normalize_id, to_18


def test_the_suffix_encodes_which_letters_are_upper_case() -> None:
    # The documented example: 001A0000006Vm9r -> 001A0000006Vm9rIAC.
    assert to_18("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert to_18("003000000000000") == "003000000000000AAA"


def test_a_15_character_id_is_taken_as_written() -> None:
    assert normalize_id("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert normalize_id("001a0000006vm9r") == to_18("001a0000006vm9r")


def test_an_18_character_id_in_any_case_is_restored_from_its_suffix() -> None:
    assert normalize_id("001a0000006vm9riac") == "001A0000006Vm9rIAC"
    assert normalize_id("001A0000006VM9RIAC") == "001A0000006Vm9rIAC"


@pytest.mark.parametrize(
    "raw",
    [
        "001A0000006Vm9rIAD",  # the suffix does not match the letters
        "0010000000000000B0",  # an upper-case bit on a digit
        "001A0000006Vm9",  # too short
        "RE_Constituent_ID__c",
        "001A0000006Vm9r!AC",
    ],
)
def test_what_is_not_an_id(raw: str) -> None:
    assert normalize_id(raw) is None


def test_the_minter_hands_out_valid_ids_of_its_prefix_in_sequence() -> None:
    minter = IdMinter("003", start=62**5)
    first, second = minter.mint(), minter.mint()
    assert first[:3] == second[:3] == "003"
    assert len(first) == 18
    assert normalize_id(first) == first
    assert normalize_id(first.lower()) == first
    assert first != second
    minter.restart(62**5)
    assert minter.mint() == first


def test_a_key_prefix_has_three_characters() -> None:
    with pytest.raises(ValueError, match="3 characters"):
        IdMinter("03")
