"""A SOQL subset: a tokenizer, a recursive-descent parser that checks names and types against
the sObject's fields, and the compiled filter, ordering and paging it runs on records.

Grammar (keywords in any case)::

    query      := SELECT select FROM object [WHERE condition] [ORDER BY order {, order}]
                  [LIMIT n] [OFFSET n]
    select     := COUNT() | item {, item}
    item       := field | FIELDS(ALL | STANDARD | CUSTOM)
    condition  := unary {AND unary} | unary {OR unary}      -- mixing needs parentheses
    unary      := NOT unary | ( condition ) | predicate
    predicate  := field op value | field [NOT] IN ( value {, value} ) | field LIKE 'pattern'
    op         := = | != | <> | < | <= | > | >=
    value      := 'text' | number | true | false | null | 2026-01-01T09:00:00Z | date literal
    order      := field [ASC | DESC] [NULLS FIRST | NULLS LAST]

Date literals: ``TODAY``, ``YESTERDAY``, ``TOMORROW``, ``LAST_N_DAYS:n``, ``NEXT_N_DAYS:n``
(days in UTC). Errors are :class:`SoqlError` with the code Salesforce uses (``MALFORMED_QUERY``,
``INVALID_FIELD``, ``INVALID_TYPE``...) and the position of the offending token;
:meth:`SoqlError.message` renders them the way the API does (the query line, a caret,
``ERROR at Row:1:Column:n`` and the reason).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, Literal

from salesforce_simulator.ids import normalize_id
from salesforce_simulator.schema import FieldDef, SObjectDef, parse_datetime

__all__ = [
    "MAX_OFFSET",
    "CompiledQuery",
    "Record",
    "SoqlError",
    "SoqlQuery",
    "compile_query",
    "parse_soql",
]

#: The largest OFFSET SOQL allows.
MAX_OFFSET: Final = 2000
#: The largest LIMIT a query with FIELDS(ALL) or FIELDS(CUSTOM) may have.
FIELDS_FUNCTION_LIMIT: Final = 200

Record = Mapping[str, Any]
Comparator = Literal["=", "!=", "<", "<=", ">", ">="]

_MISSING_FIELD_HINT: Final = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom "
    "field name. Please reference your WSDL or the describe call for the appropriate names."
)
_UNSUPPORTED_CLAUSES: Final = {
    "GROUP": "GROUP BY",
    "HAVING": "HAVING",
    "WITH": "WITH",
    "FOR": "FOR VIEW / FOR REFERENCE / FOR UPDATE",
    "USING": "USING SCOPE",
    "ALL": "ALL ROWS (use the queryAll resource instead)",
    "TYPEOF": "TYPEOF",
}
#: Words that end or join clauses, so never a field name.
_RESERVED: Final = frozenset(
    {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "LIMIT",
     "OFFSET", "NULL", "TRUE", "FALSE", "ASC", "DESC", "NULLS", "GROUP", "HAVING", "WITH"}
)  # fmt: skip
_DATE_LITERALS: Final = frozenset({"TODAY", "YESTERDAY", "TOMORROW"})
_N_DATE_LITERALS: Final = frozenset({"LAST_N_DAYS", "NEXT_N_DAYS"})
_STRING_ESCAPES: Final = {
    "n": "\n",
    "t": "\t",
    "b": "\b",
    "f": "\f",
    "r": "\r",
    '"': '"',
    "'": "'",
    "\\": "\\",
}


class SoqlError(Exception):
    """A query Salesforce would refuse: its error code, the reason and where."""

    def __init__(self, error_code: str, reason: str, query: str, position: int) -> None:
        super().__init__(reason)
        self.error_code = error_code
        self.reason = reason
        self.query = query
        self.position = max(0, min(position, len(query)))

    @property
    def row(self) -> int:
        return self.query.count("\n", 0, self.position) + 1

    @property
    def column(self) -> int:
        return self.position - (self.query.rfind("\n", 0, self.position) + 1) + 1

    def message(self) -> str:
        """The API's message: the query line, a caret under the problem, row/column, reason."""
        line = self.query.split("\n")[self.row - 1]
        caret = " " * (self.column - 1) + "^"
        return f"\n{line}\n{caret}\nERROR at Row:{self.row}:Column:{self.column}\n{self.reason}"


# -- tokens ------------------------------------------------------------------------------------

TokenKind = Literal["word", "string", "number", "datetime", "date", "op", "(", ")", ",", ":", "end"]


@dataclass(frozen=True, slots=True)
class _Token:
    kind: TokenKind
    text: str
    position: int
    value: Any = None

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.upper() in words

    def shown(self) -> str:
        return "<EOF>" if self.kind == "end" else f"'{self.text}'"


_TOKEN: Final = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<open_string>')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<zoneless>\d{4}-\d{2}-\d{2}T[0-9:.]*)
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>[+-]?\d+(?:\.\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),:])
    """,
    re.VERBOSE,
)


def _unescape(query: str, literal: str, position: int) -> str:
    """The text of a quoted literal. ``\\%`` and ``\\_`` stay escaped: they matter to LIKE."""
    out: list[str] = []
    body = literal[1:-1]
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        escaped = body[index + 1]
        if escaped in "%_":
            out.append("\\" + escaped)
        elif escaped.lower() in _STRING_ESCAPES:
            out.append(_STRING_ESCAPES[escaped.lower()])
        else:
            raise SoqlError(
                "MALFORMED_QUERY",
                f"Illegal character sequence '\\{escaped}' in string literal.",
                query,
                position + 1 + index,
            )
        index += 2
    return "".join(out)


def _tokenize(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(query):
        match = _TOKEN.match(query, position)
        if match is None:
            raise SoqlError(
                "MALFORMED_QUERY",
                f"unexpected character '{query[position]}'",
                query,
                position,
            )
        kind = match.lastgroup
        text = match.group()
        if kind == "open_string":
            raise SoqlError("MALFORMED_QUERY", "unterminated string literal", query, position)
        if kind == "zoneless":
            raise SoqlError(
                "MALFORMED_QUERY",
                f"invalid date-time literal '{text}': it needs a time zone, 'Z' or +hh:mm "
                "(a '+' in a URL must be encoded as %2B, or it arrives as a space)",
                query,
                position,
            )
        if kind == "string":
            tokens.append(_Token("string", text, position, _unescape(query, text, position)))
        elif kind == "datetime":
            parsed = parse_datetime(text)
            if parsed is None:
                raise SoqlError(
                    "MALFORMED_QUERY", f"invalid date-time literal '{text}'", query, position
                )
            tokens.append(_Token("datetime", text, position, parsed))
        elif kind == "date":
            try:
                day = date.fromisoformat(text)
            except ValueError:
                raise SoqlError(
                    "MALFORMED_QUERY", f"invalid date literal '{text}'", query, position
                ) from None
            tokens.append(_Token("date", text, position, day))
        elif kind == "number":
            tokens.append(_Token("number", text, position, float(text)))
        elif kind == "word":
            tokens.append(_Token("word", text, position))
        elif kind == "op":
            tokens.append(_Token("op", "!=" if text == "<>" else text, position))
        elif kind == "punct":
            tokens.append(_Token(text, text, position))  # type: ignore[arg-type]  # ( ) , :
        position = match.end()
    tokens.append(_Token("end", "", len(query)))
    return tokens


# -- the syntax tree ---------------------------------------------------------------------------

ValueKind = Literal["string", "number", "boolean", "null", "datetime", "date", "relative_date"]


@dataclass(frozen=True, slots=True)
class Value:
    """A literal of a condition; ``relative_date`` values are ``(name, n)``."""

    kind: ValueKind
    value: Any
    text: str
    position: int


@dataclass(frozen=True, slots=True)
class Comparison:
    field: FieldDef
    op: Comparator
    value: Value


@dataclass(frozen=True, slots=True)
class InList:
    field: FieldDef
    negated: bool
    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Like:
    field: FieldDef
    pattern: str


@dataclass(frozen=True, slots=True)
class Not:
    condition: Condition


@dataclass(frozen=True, slots=True)
class Junction:
    kind: Literal["AND", "OR"]
    parts: tuple[Condition, ...]


Condition = Comparison | InList | Like | Not | Junction


@dataclass(frozen=True, slots=True)
class _SelectItem:
    """One item of a select list as written: a field, ``FIELDS(which)`` or ``COUNT()``."""

    kind: Literal["field", "fields", "count"]
    token: _Token
    which: str = ""


@dataclass(frozen=True, slots=True)
class OrderItem:
    field: FieldDef
    descending: bool
    nulls_last: bool


@dataclass(frozen=True, slots=True)
class SoqlQuery:
    """A parsed query, its names resolved against the sObject's fields."""

    text: str
    sobject: SObjectDef
    fields: tuple[FieldDef, ...]
    count_only: bool
    where: Condition | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int


# -- the parser --------------------------------------------------------------------------------


class _Parser:
    def __init__(self, query: str, objects: Mapping[str, SObjectDef]) -> None:
        self.query = query
        self.objects = objects
        self.tokens = _tokenize(query)
        self.index = 0

    # -- token helpers

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def error(
        self, reason: str, token: _Token | None = None, code: str = "MALFORMED_QUERY"
    ) -> SoqlError:
        where = token if token is not None else self.token
        return SoqlError(code, reason, self.query, where.position)

    def unexpected(self, expected: str) -> SoqlError:
        token = self.token
        if token.kind == "word" and token.text.upper() in _UNSUPPORTED_CLAUSES:
            clause = _UNSUPPORTED_CLAUSES[token.text.upper()]
            return self.error(f"{clause} is not supported by the simulator's SOQL")
        return self.error(f"unexpected token: {token.shown()} (expected {expected})")

    def expect_word(self, word: str) -> _Token:
        if not self.token.is_word(word):
            raise self.unexpected(word)
        return self.advance()

    def expect(self, kind: TokenKind, expected: str) -> _Token:
        if self.token.kind != kind:
            raise self.unexpected(expected)
        return self.advance()

    # -- clauses

    def parse(self) -> SoqlQuery:
        self.expect_word("SELECT")
        items = self.select_items()
        self.expect_word("FROM")
        object_token = self.expect("word", "an object name")
        sobject = self.objects.get(object_token.text.lower())
        if sobject is None:
            raise self.error(
                f"sObject type '{object_token.text}' is not supported. If you are attempting to "
                "use a custom object, be sure to append the '__c' after the entity name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
                object_token,
                "INVALID_TYPE",
            )
        fields = self.resolve_select(items, sobject)
        where = None
        if self.token.is_word("WHERE"):
            self.advance()
            where = self.condition(sobject)
        order_by: list[OrderItem] = []
        if self.token.is_word("ORDER"):
            self.advance()
            self.expect_word("BY")
            order_by.append(self.order_item(sobject))
            while self.token.kind == ",":
                self.advance()
                order_by.append(self.order_item(sobject))
        limit = None
        if self.token.is_word("LIMIT"):
            self.advance()
            limit = self.whole_number("LIMIT")
        offset = 0
        if self.token.is_word("OFFSET"):
            self.advance()
            offset_token = self.token
            offset = self.whole_number("OFFSET")
            if offset > MAX_OFFSET:
                raise self.error(
                    f"Maximum SOQL offset allowed is {MAX_OFFSET}",
                    offset_token,
                    "NUMBER_OUTSIDE_VALID_RANGE",
                )
        if self.token.kind != "end":
            raise self.unexpected("WHERE, ORDER BY, LIMIT, OFFSET or the end of the query")
        limited = [item for item in items if item.kind == "fields" and item.which != "STANDARD"]
        if limited and (limit is None or limit > FIELDS_FUNCTION_LIMIT):
            raise self.error(
                f"The SOQL FIELDS function must have a LIMIT of at most {FIELDS_FUNCTION_LIMIT}",
                limited[0].token,
            )
        count_only = bool(items) and items[0].kind == "count"
        return SoqlQuery(
            self.query, sobject, fields, count_only, where, tuple(order_by), limit, offset
        )

    def select_items(self) -> list[_SelectItem]:
        """The select list as written; names are checked once FROM names the object."""
        token = self.token
        if token.is_word("COUNT") and self.peek_kind("("):
            self.advance()
            self.advance()
            if self.token.kind != ")":
                raise self.error(
                    "aggregate queries (COUNT(field), SUM, ...) are not supported by the "
                    "simulator; COUNT() is",
                    token,
                )
            self.advance()
            if not self.token.is_word("FROM"):
                raise self.unexpected("FROM (COUNT() must be alone in the select list)")
            return [_SelectItem("count", token)]
        items: list[_SelectItem] = []
        while True:
            token = self.token
            if token.is_word("FIELDS") and self.peek_kind("("):
                self.advance()
                self.advance()
                which = self.expect("word", "ALL, STANDARD or CUSTOM")
                if which.text.upper() not in ("ALL", "STANDARD", "CUSTOM"):
                    raise self.error(
                        f"FIELDS takes ALL, STANDARD or CUSTOM, not '{which.text}'", which
                    )
                self.expect(")", "')'")
                items.append(_SelectItem("fields", token, which.text.upper()))
            elif token.kind == "(" and self.peek_word("SELECT"):
                raise self.error("nested queries (subqueries) are not supported by the simulator")
            elif token.kind == "word" and token.text.upper() not in _RESERVED:
                self.advance()
                items.append(_SelectItem("field", token))
            else:
                raise self.unexpected("a field name")
            if self.token.kind != ",":
                break
            self.advance()
        if not self.token.is_word("FROM"):
            raise self.unexpected("',' or FROM")
        return items

    def resolve_select(
        self, items: Sequence[_SelectItem], sobject: SObjectDef
    ) -> tuple[FieldDef, ...]:
        chosen: list[FieldDef] = []
        for item in items:
            if item.kind == "fields":
                expanded = [
                    field
                    for field in sobject.fields
                    if item.which == "ALL" or field.custom == (item.which == "CUSTOM")
                ]
                chosen.extend(field for field in expanded if field not in chosen)
            elif item.kind == "field":
                field = self.resolve_field(item.token, sobject)
                if field in chosen:
                    raise self.error(f"duplicate field selected: {field.name}", item.token)
                chosen.append(field)
        return tuple(chosen)

    def peek_kind(self, kind: TokenKind) -> bool:
        return self.tokens[self.index + 1].kind == kind

    def field(self, sobject: SObjectDef) -> FieldDef:
        token = self.token
        if token.kind != "word" or token.text.upper() in _RESERVED:
            raise self.unexpected("a field name")
        self.advance()
        return self.resolve_field(token, sobject)

    def resolve_field(self, token: _Token, sobject: SObjectDef) -> FieldDef:
        if "." in token.text:
            relationship = token.text.split(".", 1)[0]
            raise self.error(
                f"Didn't understand relationship '{relationship}' in field path. The simulator "
                "knows no relationships: select the lookup id field (e.g. AccountId) instead.",
                token,
                "INVALID_FIELD",
            )
        field = sobject.field(token.text)
        if field is None:
            raise self.error(
                f"No such column '{token.text}' on entity '{sobject.name}'. {_MISSING_FIELD_HINT}",
                token,
                "INVALID_FIELD",
            )
        return field

    def whole_number(self, clause: str) -> int:
        token = self.token
        if token.kind != "number" or not token.text.isdigit():
            raise self.unexpected(f"a whole number after {clause}")
        self.advance()
        return int(token.text)

    def order_item(self, sobject: SObjectDef) -> OrderItem:
        field = self.field(sobject)
        descending = False
        if self.token.is_word("ASC", "DESC"):
            descending = self.advance().text.upper() == "DESC"
        nulls_last = descending
        if self.token.is_word("NULLS"):
            self.advance()
            if not self.token.is_word("FIRST", "LAST"):
                raise self.unexpected("FIRST or LAST")
            nulls_last = self.advance().text.upper() == "LAST"
        return OrderItem(field, descending, nulls_last)

    # -- conditions

    def condition(self, sobject: SObjectDef) -> Condition:
        parts = [self.unary(sobject)]
        kind: Literal["AND", "OR"] | None = None
        while self.token.is_word("AND", "OR"):
            connective = self.token
            word: Literal["AND", "OR"] = "AND" if connective.text.upper() == "AND" else "OR"
            if kind is not None and word != kind:
                raise self.error(
                    f"unexpected token: '{connective.text}' (combine AND with OR using "
                    "parentheses, e.g. a AND (b OR c))",
                    connective,
                )
            kind = word
            self.advance()
            parts.append(self.unary(sobject))
        if kind is None:
            return parts[0]
        return Junction(kind, tuple(parts))

    def unary(self, sobject: SObjectDef) -> Condition:
        if self.token.is_word("NOT"):
            self.advance()
            return Not(self.unary(sobject))
        if self.token.kind == "(":
            self.advance()
            inner = self.condition(sobject)
            self.expect(")", "')'")
            return inner
        return self.predicate(sobject)

    def predicate(self, sobject: SObjectDef) -> Condition:
        field_token = self.token
        field = self.field(sobject)
        operator = self.token
        if operator.is_word("LIKE"):
            self.advance()
            pattern = self.value()
            if not field.is_text:
                raise self.error(
                    f"invalid operator on {field.type} field: LIKE filters text fields only "
                    f"({field.name} is {field.type})",
                    operator,
                    "INVALID_QUERY_FILTER_OPERATOR",
                )
            if pattern.kind != "string":
                raise self.error(
                    f"value of filter criterion for field '{field.name}' must be of type string "
                    "and should be enclosed in quotes",
                    self.tokens[self.index - 1],
                )
            return Like(field, pattern.value)
        negated = False
        if operator.is_word("NOT") and self.peek_word("IN"):
            self.advance()
            negated = True
        if self.token.is_word("IN"):
            self.advance()
            self.expect("(", "'(' after IN")
            if self.token.is_word("SELECT"):
                raise self.error(
                    "semi-join subqueries (IN (SELECT ...)) are not supported by the simulator"
                )
            values = [self.value()]
            while self.token.kind == ",":
                self.advance()
                values.append(self.value())
            self.expect(")", "',' or ')'")
            for value in values:
                self.check_value(field, "=", value)
            return InList(field, negated, tuple(values))
        if operator.kind != "op":
            raise self.unexpected(f"an operator after {field_token.text} (=, !=, <, LIKE, IN...)")
        self.advance()
        value = self.value()
        op: Comparator = operator.text  # type: ignore[assignment]  # the tokenizer's op set
        self.check_value(field, op, value)
        return Comparison(field, op, value)

    def peek_word(self, word: str) -> bool:
        return self.tokens[self.index + 1].is_word(word)

    def value(self) -> Value:
        token = self.token
        if token.kind in ("string", "number", "datetime", "date"):
            self.advance()
            return Value(token.kind, token.value, token.text, token.position)
        if token.is_word("TRUE", "FALSE"):
            self.advance()
            return Value("boolean", token.text.upper() == "TRUE", token.text, token.position)
        if token.is_word("NULL"):
            self.advance()
            return Value("null", None, token.text, token.position)
        if token.kind == "word" and token.text.upper() in _DATE_LITERALS:
            self.advance()
            return Value("relative_date", (token.text.upper(), 0), token.text, token.position)
        if token.kind == "word" and token.text.upper() in _N_DATE_LITERALS:
            self.advance()
            self.expect(":", f"':' after {token.text}")
            count = self.whole_number(token.text.upper())
            text = f"{token.text}:{count}"
            return Value("relative_date", (token.text.upper(), count), text, token.position)
        raise self.unexpected("a value ('text', a number, true, false, null or a date-time)")

    def check_value(self, field: FieldDef, op: Comparator, value: Value) -> None:
        """Refuse a literal of the wrong type for the field, or an operator it cannot take."""
        token = _Token("word", value.text, value.position)
        if value.kind == "null":
            if op not in ("=", "!="):
                raise self.error("null can only be compared with = or !=", token)
            return
        if field.type == "datetime":
            if value.kind not in ("datetime", "relative_date"):
                raise self.error(
                    f"value of filter criterion for field '{field.name}' must be of type "
                    "dateTime and should not be enclosed in quotes",
                    token,
                )
            return
        if value.kind == "relative_date":
            raise self.error(
                f"date literal {value.text} can only filter date-time fields ({field.name} is "
                f"{field.type})",
                token,
            )
        if field.type == "boolean":
            if value.kind != "boolean":
                raise self.error(
                    f"value of filter criterion for field '{field.name}' must be of type "
                    "boolean and should not be enclosed in quotes",
                    token,
                )
            if op not in ("=", "!="):
                raise self.error(
                    "invalid operator on boolean field", token, "INVALID_QUERY_FILTER_OPERATOR"
                )
            return
        if value.kind != "string":
            raise self.error(
                f"value of filter criterion for field '{field.name}' must be of type string and "
                "should be enclosed in quotes",
                token,
            )
        if field.is_id and normalize_id(value.value) is None:
            raise self.error(
                f"invalid ID field: {value.value}", token, "INVALID_QUERY_FILTER_OPERATOR"
            )


def parse_soql(query: str, objects: Iterable[SObjectDef]) -> SoqlQuery:
    """Parse ``query`` against the given sObject types; :class:`SoqlError` when it is refused."""
    return _Parser(query, {sobject.name.lower(): sobject for sobject in objects}).parse()


# -- running a query ---------------------------------------------------------------------------

Predicate = Callable[[Record], bool]


def _day_range(name: str, count: int, now: datetime) -> tuple[datetime, datetime]:
    today = datetime.combine(now.astimezone(UTC).date(), time(), tzinfo=UTC)
    day = timedelta(days=1)
    if name == "TODAY":
        return today, today + day
    if name == "YESTERDAY":
        return today - day, today
    if name == "TOMORROW":
        return today + day, today + 2 * day
    if name == "LAST_N_DAYS":  # the n days before today, and today
        return today - count * day, today + day
    return today + day, today + (count + 1) * day  # NEXT_N_DAYS: the n days from tomorrow


def _comparable(field: FieldDef, value: Value) -> Any:
    if value.kind == "null":
        return None
    if field.is_id:
        return normalize_id(value.value)
    if field.is_text:
        return str(value.value).casefold()
    return value.value


def _stored(field: FieldDef, stored: Any) -> Any:
    if stored is not None and field.is_text:
        return str(stored).casefold()
    return stored


def _compare(op: Comparator, left: Any, right: Any) -> bool:
    if op == "=":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if left is None or right is None:
        return False
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _like_regex(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern) and pattern[index + 1] in "%_":
            parts.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        index += 1
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _compile(condition: Condition, now: datetime) -> Predicate:
    if isinstance(condition, Junction):
        parts = [_compile(part, now) for part in condition.parts]
        if condition.kind == "AND":
            return lambda record: all(part(record) for part in parts)
        return lambda record: any(part(record) for part in parts)
    if isinstance(condition, Not):
        inner = _compile(condition.condition, now)
        return lambda record: not inner(record)
    if isinstance(condition, Like):
        name = condition.field.name
        regex = _like_regex(condition.pattern)
        return lambda record: record[name] is not None and bool(regex.fullmatch(record[name]))
    if isinstance(condition, InList):
        field = condition.field
        members = {_comparable(field, value) for value in condition.values}
        if condition.negated:
            return lambda record: _stored(field, record[field.name]) not in members
        return lambda record: _stored(field, record[field.name]) in members
    return _compile_comparison(condition, now)


def _compile_comparison(condition: Comparison, now: datetime) -> Predicate:
    field, op, value = condition.field, condition.op, condition.value
    name = field.name
    if value.kind == "relative_date":
        literal, count = value.value
        start, end = _day_range(literal, count, now)

        def in_range(record: Record) -> bool:
            stamp = record[name]
            inside = stamp is not None and start <= stamp < end
            if op == "=":
                return inside
            if op == "!=":
                return not inside
            if stamp is None:
                return False
            if op == "<":
                return bool(stamp < start)
            if op == "<=":
                return bool(stamp < end)
            if op == ">":
                return bool(stamp >= end)
            return bool(stamp >= start)

        return in_range
    right = _comparable(field, value)
    return lambda record: _compare(op, _stored(field, record[name]), right)


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    """A query ready to run: the filter (with date literals fixed at compile time)."""

    query: SoqlQuery
    predicate: Predicate

    def run(self, records: Iterable[Record]) -> list[Record]:
        """The matching records, ordered, with OFFSET and LIMIT applied.

        Without ORDER BY the order is the order ``records`` come in; ties keep it too.
        """
        rows = [record for record in records if self.predicate(record)]
        for item in reversed(self.query.order_by):
            rows = _sorted(rows, item)
        end = None if self.query.limit is None else self.query.offset + self.query.limit
        return rows[self.query.offset : end]


def _sorted(rows: Sequence[Record], item: OrderItem) -> list[Record]:
    name = item.field.name
    present = [row for row in rows if row[name] is not None]
    missing = [row for row in rows if row[name] is None]

    # Text sorts case-insensitively; ids are case-sensitive base-62, compared as they are.
    fold = not item.field.is_id

    def key(row: Record) -> Any:
        value = row[name]
        return value.casefold() if fold and isinstance(value, str) else value

    present.sort(key=key, reverse=item.descending)
    return [*present, *missing] if item.nulls_last else [*missing, *present]


def compile_query(query: SoqlQuery, now: datetime) -> CompiledQuery:
    """Compile the filter of ``query``; relative dates (``TODAY``...) are taken at ``now``."""
    predicate: Predicate = (
        _compile(query.where, now) if query.where is not None else (lambda record: True)
    )
    return CompiledQuery(query, predicate)
