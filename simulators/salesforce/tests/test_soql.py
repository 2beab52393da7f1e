"""The SOQL subset: what it selects, filters and orders, and how it refuses a query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from salesforce_simulator.schema import CONTACT
from salesforce_simulator.soql import SoqlError, compile_query, parse_soql
from salesforce_simulator.store import ContactStore

from syncframe.clock import ManualClock

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
ADMIN = "005Rs0000000001AAA"


@pytest.fixture
def store() -> ContactStore:
    """Four Contacts made a minute apart; the second one has no email, the third opted out."""
    clock = ManualClock(START)
    contacts = ContactStore(clock)
    people: list[dict[str, Any]] = [
        {"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.org"},
        {"FirstName": "Ben", "LastName": "Okafor"},
        {"FirstName": "chen", "LastName": "Ito", "Email": "Chen.Ito@Example.org",
         "HasOptedOutOfEmail": True, "RE_Constituent_ID__c": "10042"},
        {"FirstName": "Dina", "LastName": "O'Brien", "Email": "dina_100%@example.org",
         "MailingCity": "Leeds"},
    ]  # fmt: skip
    for person in people:
        contacts.create(person, ADMIN)
        clock.advance(minutes=1)
    return contacts


def run(store: ContactStore, soql: str) -> list[dict[str, Any]]:
    query = parse_soql(soql, [CONTACT])
    rows = compile_query(query, store.clock.now()).run(store.rows())
    return [{field.name: row[field.name] for field in query.fields} for row in rows]


def last_names(store: ContactStore, soql: str) -> list[str]:
    return [row["LastName"] for row in run(store, soql)]


def refusal(soql: str) -> SoqlError:
    with pytest.raises(SoqlError) as caught:
        parse_soql(soql, [CONTACT])
    return caught.value


class TestSelecting:
    """The select list: fields in the order asked, FIELDS(), COUNT()."""

    def test_fields_come_in_the_order_asked_with_canonical_names(self, store: ContactStore) -> None:
        rows = run(store, "select email, lastname from contact where firstname = 'ada'")
        assert rows == [{"Email": "ada@example.org", "LastName": "Lovelace"}]
        assert list(rows[0]) == ["Email", "LastName"]

    def test_fields_standard_and_custom(self, store: ContactStore) -> None:
        standard = parse_soql("SELECT FIELDS(STANDARD) FROM Contact", [CONTACT])
        assert [f.name for f in standard.fields] == [f.name for f in CONTACT.fields if not f.custom]
        custom = parse_soql("SELECT Id, FIELDS(CUSTOM) FROM Contact LIMIT 200", [CONTACT])
        assert [f.name for f in custom.fields] == ["Id", "RE_Constituent_ID__c"]

    def test_fields_all_needs_a_limit_of_at_most_200(self) -> None:
        error = refusal("SELECT FIELDS(ALL) FROM Contact")
        assert (error.error_code, error.reason) == (
            "MALFORMED_QUERY",
            "The SOQL FIELDS function must have a LIMIT of at most 200",
        )
        assert parse_soql("SELECT FIELDS(ALL) FROM Contact LIMIT 200", [CONTACT]).limit == 200

    def test_count(self, store: ContactStore) -> None:
        query = parse_soql("SELECT COUNT() FROM Contact WHERE Email != null", [CONTACT])
        assert query.count_only
        assert len(compile_query(query, START).run(store.rows())) == 3


class TestFiltering:
    """WHERE: comparisons, null, IN, LIKE, AND/OR/NOT, date-times and date literals."""

    def test_text_equality_ignores_case(self, store: ContactStore) -> None:
        assert last_names(
            store, "SELECT LastName FROM Contact WHERE Email = 'chen.ito@example.ORG'"
        ) == ["Ito"]

    def test_not_equal_includes_empty_fields_as_soql_does(self, store: ContactStore) -> None:
        assert last_names(
            store, "SELECT LastName FROM Contact WHERE Email != 'ada@example.org'"
        ) == [
            "Okafor",
            "Ito",
            "O'Brien",
        ]

    def test_null(self, store: ContactStore) -> None:
        assert last_names(store, "SELECT LastName FROM Contact WHERE Email = null") == ["Okafor"]
        assert last_names(store, "SELECT LastName FROM Contact WHERE Email <> NULL") == [
            "Lovelace",
            "Ito",
            "O'Brien",
        ]

    def test_in_and_not_in(self, store: ContactStore) -> None:
        soql = "SELECT LastName FROM Contact WHERE FirstName IN ('ADA', 'Chen', 'nobody')"
        assert last_names(store, soql) == ["Lovelace", "Ito"]
        soql = "SELECT LastName FROM Contact WHERE FirstName NOT IN ('Ada','Chen')"
        assert last_names(store, soql) == ["Okafor", "O'Brien"]

    def test_like_with_wildcards_and_escapes(self, store: ContactStore) -> None:
        assert last_names(
            store, "SELECT LastName FROM Contact WHERE Email LIKE '%@example.org'"
        ) == [
            "Lovelace",
            "Ito",
            "O'Brien",
        ]
        assert last_names(store, "SELECT LastName FROM Contact WHERE LastName LIKE 'o_brien'") == [
            "O'Brien"
        ]
        assert last_names(store, r"SELECT LastName FROM Contact WHERE Email LIKE '%\_100\%@%'") == [
            "O'Brien"
        ]
        assert last_names(store, r"SELECT LastName FROM Contact WHERE Email LIKE '%\%x%'") == []

    def test_escaped_quote_in_a_string(self, store: ContactStore) -> None:
        assert last_names(store, r"SELECT LastName FROM Contact WHERE LastName = 'O\'Brien'") == [
            "O'Brien"
        ]

    def test_and_or_not_and_parentheses(self, store: ContactStore) -> None:
        soql = (
            "SELECT LastName FROM Contact WHERE HasOptedOutOfEmail = false AND "
            "(Email = null OR MailingCity = 'leeds')"
        )
        assert last_names(store, soql) == ["Okafor", "O'Brien"]
        assert last_names(store, "SELECT LastName FROM Contact WHERE NOT Email = null") == [
            "Lovelace",
            "Ito",
            "O'Brien",
        ]
        assert last_names(
            store, "SELECT LastName FROM Contact WHERE HasOptedOutOfEmail = TRUE"
        ) == ["Ito"]

    def test_datetime_comparisons_in_any_offset(self, store: ContactStore) -> None:
        # Created at 09:00, 09:01, 09:02 and 09:03 UTC.
        soql = "SELECT LastName FROM Contact WHERE CreatedDate > 2026-01-01T09:01:00Z"
        assert last_names(store, soql) == ["Ito", "O'Brien"]
        soql = "SELECT LastName FROM Contact WHERE CreatedDate >= 2026-01-01T10:01:00+01:00"
        assert last_names(store, soql) == ["Okafor", "Ito", "O'Brien"]
        soql = "SELECT LastName FROM Contact WHERE SystemModstamp < 2026-01-01T09:00:30.500Z"
        assert last_names(store, soql) == ["Lovelace"]
        soql = "SELECT LastName FROM Contact WHERE LastModifiedDate = 2026-01-01T09:02:00.000+0000"
        assert last_names(store, soql) == ["Ito"]

    def test_date_literals_are_whole_utc_days(self, store: ContactStore) -> None:
        assert len(run(store, "SELECT Id FROM Contact WHERE CreatedDate = TODAY")) == 4
        assert run(store, "SELECT Id FROM Contact WHERE CreatedDate = YESTERDAY") == []
        assert len(run(store, "SELECT Id FROM Contact WHERE CreatedDate < TOMORROW")) == 4
        assert len(run(store, "SELECT Id FROM Contact WHERE CreatedDate = LAST_N_DAYS:3")) == 4
        assert run(store, "SELECT Id FROM Contact WHERE CreatedDate > TODAY") == []
        assert run(store, "SELECT Id FROM Contact WHERE CreatedDate = NEXT_N_DAYS:2") == []

    def test_id_comparisons_accept_either_form(self, store: ContactStore) -> None:
        record_id = next(r["Id"] for r in store.rows() if r["LastName"] == "Ito")
        for form in (record_id, record_id[:15], record_id.lower()):
            assert last_names(store, f"SELECT LastName FROM Contact WHERE Id = '{form}'") == ["Ito"]
        # A 15-character id is case-sensitive: in other case it names another record.
        other = record_id[:15].swapcase()
        assert last_names(store, f"SELECT LastName FROM Contact WHERE Id = '{other}'") == []


class TestOrderAndPaging:
    """ORDER BY (text ignores case; nulls first unless DESC or NULLS LAST), LIMIT, OFFSET."""

    def test_order_by_text_ignores_case(self, store: ContactStore) -> None:
        assert last_names(store, "SELECT LastName FROM Contact ORDER BY FirstName") == [
            "Lovelace",
            "Okafor",
            "Ito",
            "O'Brien",
        ]

    def test_nulls_first_ascending_and_last_descending(self, store: ContactStore) -> None:
        assert last_names(store, "SELECT LastName FROM Contact ORDER BY Email")[0] == "Okafor"
        assert last_names(store, "SELECT LastName FROM Contact ORDER BY Email DESC")[-1] == "Okafor"
        assert (
            last_names(store, "SELECT LastName FROM Contact ORDER BY Email ASC NULLS LAST")[-1]
            == "Okafor"
        )

    def test_several_keys(self, store: ContactStore) -> None:
        soql = (
            "SELECT LastName FROM Contact ORDER BY HasOptedOutOfEmail DESC, LastModifiedDate DESC"
        )
        assert last_names(store, soql) == ["Ito", "O'Brien", "Okafor", "Lovelace"]

    def test_limit_and_offset(self, store: ContactStore) -> None:
        soql = "SELECT LastName FROM Contact ORDER BY CreatedDate LIMIT 2 OFFSET 1"
        assert last_names(store, soql) == ["Okafor", "Ito"]


class TestRefusals:
    """Every refusal names the problem, with Salesforce's code and the caret position."""

    def test_unknown_field(self) -> None:
        error = refusal("SELECT Id, Emial FROM Contact")
        assert (error.error_code, error.row, error.column) == ("INVALID_FIELD", 1, 12)
        assert error.reason.startswith("No such column 'Emial' on entity 'Contact'.")
        assert error.message() == (
            "\nSELECT Id, Emial FROM Contact\n           ^\nERROR at Row:1:Column:12\n"
            + error.reason
        )

    def test_unknown_object(self) -> None:
        error = refusal("SELECT Id FROM Account")
        assert error.error_code == "INVALID_TYPE"
        assert error.reason.startswith("sObject type 'Account' is not supported.")

    def test_relationship_paths_are_not_simulated(self) -> None:
        error = refusal("SELECT Account.Name FROM Contact")
        assert error.error_code == "INVALID_FIELD"
        assert "Didn't understand relationship 'Account'" in error.reason

    @pytest.mark.parametrize(
        ("soql", "reason", "column"),
        [
            ("SELECT Id FORM Contact", "unexpected token: 'FORM' (expected ',' or FROM)", 11),
            ("SELECT Id", "unexpected token: <EOF> (expected ',' or FROM)", 10),
            (
                "SELECT Id, (SELECT Id FROM Notes) FROM Contact",
                "nested queries (subqueries) are not supported by the simulator",
                12,
            ),
            ("SELECT Id FROM Contact WHERE", "unexpected token: <EOF> (expected a field name)", 29),
            ("SELECT Id, FROM Contact", "unexpected token: 'FROM' (expected a field name)", 12),
            (
                "SELECT Id FROM Contact WHERE Email = 'a' AND LastName = 'b' OR Phone = null",
                "unexpected token: 'OR' (combine AND with OR using parentheses, e.g. a AND "
                "(b OR c))",
                61,
            ),
            (
                "SELECT Id FROM Contact WHERE Email = 5",
                "value of filter criterion for field 'Email' must be of type string and should be "
                "enclosed in quotes",
                38,
            ),
            (
                "SELECT Id FROM Contact WHERE LastModifiedDate > '2026-01-01T00:00:00Z'",
                "value of filter criterion for field 'LastModifiedDate' must be of type dateTime "
                "and should not be enclosed in quotes",
                49,
            ),
            (
                "SELECT Id FROM Contact WHERE LastModifiedDate > 2026-01-01",
                "value of filter criterion for field 'LastModifiedDate' must be of type dateTime "
                "and should not be enclosed in quotes",
                49,
            ),
            (
                "SELECT Id FROM Contact WHERE HasOptedOutOfEmail = 'true'",
                "value of filter criterion for field 'HasOptedOutOfEmail' must be of type "
                "boolean and should not be enclosed in quotes",
                51,
            ),
            (
                "SELECT Id FROM Contact WHERE LastModifiedDate > 2026-01-01T00:00:00 00:00",
                "invalid date-time literal '2026-01-01T00:00:00': it needs a time zone, 'Z' or "
                "+hh:mm (a '+' in a URL must be encoded as %2B, or it arrives as a space)",
                49,
            ),
            ("SELECT Id FROM Contact WHERE Email = 'open", "unterminated string literal", 38),
            (
                "SELECT Id FROM Contact WHERE Email = 'a\\qb'",
                "Illegal character sequence '\\q' in string literal.",
                40,
            ),
            ("SELECT Id FROM Contact WHERE Email = 'a' ;", "unexpected character ';'", 42),
            (
                "SELECT Id FROM Contact GROUP BY Email",
                "GROUP BY is not supported by the simulator's SOQL",
                24,
            ),
            (
                "SELECT COUNT(Id) FROM Contact",
                "aggregate queries (COUNT(field), SUM, ...) are not supported by the simulator; "
                "COUNT() is",
                8,
            ),
            ("SELECT Id, Id FROM Contact", "duplicate field selected: Id", 12),
            (
                "SELECT Id FROM Contact WHERE Id IN (SELECT Id FROM Contact)",
                "semi-join subqueries (IN (SELECT ...)) are not supported by the simulator",
                37,
            ),
            (
                "SELECT Id FROM Contact WHERE Email < null",
                "null can only be compared with = or !=",
                38,
            ),
            (
                "SELECT Id FROM Contact LIMIT ten",
                "unexpected token: 'ten' (expected a whole number after LIMIT)",
                30,
            ),
        ],
    )
    def test_malformed_queries(self, soql: str, reason: str, column: int) -> None:
        error = refusal(soql)
        assert (error.error_code, error.reason, error.column) == ("MALFORMED_QUERY", reason, column)

    @pytest.mark.parametrize(
        ("soql", "code", "reason"),
        [
            (
                "SELECT Id FROM Contact WHERE Id = 'abc'",
                "INVALID_QUERY_FILTER_OPERATOR",
                "invalid ID field: abc",
            ),
            (
                "SELECT Id FROM Contact WHERE HasOptedOutOfEmail > true",
                "INVALID_QUERY_FILTER_OPERATOR",
                "invalid operator on boolean field",
            ),
            (
                "SELECT Id FROM Contact WHERE CreatedDate LIKE 'x'",
                "INVALID_QUERY_FILTER_OPERATOR",
                "invalid operator on datetime field: LIKE filters text fields only "
                "(CreatedDate is datetime)",
            ),
            (
                "SELECT Id FROM Contact OFFSET 2001",
                "NUMBER_OUTSIDE_VALID_RANGE",
                "Maximum SOQL offset allowed is 2000",
            ),
        ],
    )
    def test_other_codes(self, soql: str, code: str, reason: str) -> None:
        error = refusal(soql)
        assert (error.error_code, error.reason) == (code, reason)

    def test_position_on_a_later_line(self) -> None:
        error = refusal("SELECT Id\nFROM Contact\nWHERE Emial = 'x'")
        assert (error.row, error.column) == (3, 7)
        assert error.message().startswith("\nWHERE Emial = 'x'\n      ^\nERROR at Row:3:Column:7\n")


def test_date_literals_are_fixed_when_the_query_is_compiled(store: ContactStore) -> None:
    query = parse_soql("SELECT Id FROM Contact WHERE CreatedDate = YESTERDAY", [CONTACT])
    tomorrow = compile_query(query, START + timedelta(days=1))
    assert len(tomorrow.run(store.rows())) == 4
