"""The ``Query`` operation's select syntax.

``select F1, F2 from Type [where Field = value [and Field = value ...]]``: keywords in any case,
fields in dot notation (``ConsName.FirstName``), ``*`` or ``Complex.*`` for wildcards, values as
quoted strings (``'x'`` or ``"x"``, a doubled quote escapes one), numbers or ``true`` / ``false``.
Anything else is a syntax error naming the 1-based character position, as an
``InvalidMessageFault``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal

from luminate_simulator._faults import LuminateFault

__all__ = ["Condition", "ParsedQuery", "parse_query"]

TokenKind = Literal["name", "string", "number", "star", "comma", "equals", "operator", "end"]

_TOKEN: Final = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.(?:[A-Za-z_][A-Za-z0-9_]*|\*))*)
  | (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<star>\*)
  | (?P<comma>,)
  | (?P<equals>=)
  | (?P<operator><>|!=|<=|>=|<|>)
    """,
    re.VERBOSE,
)


_BOOLEANS: Final = frozenset({"true", "false"})


@dataclass(frozen=True, slots=True)
class _Token:
    kind: TokenKind
    text: str
    position: int  # 1-based


@dataclass(frozen=True, slots=True)
class Condition:
    """``path = value``; ``value`` is the literal's text (quotes removed) or a number."""

    path: str
    value: str | Decimal
    position: int


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    fields: tuple[str, ...]
    record_type: str
    conditions: tuple[Condition, ...]


def _syntax_error(token: _Token, expected: str) -> LuminateFault:
    found = "the end of the query" if token.kind == "end" else f"'{token.text}'"
    return LuminateFault(
        "InvalidMessageFault",
        f"Query syntax error at position {token.position}: expected {expected}, found {found}.",
        column=token.position,
    )


def _tokens(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(query):
        match = _TOKEN.match(query, position)
        if match is None:
            raise LuminateFault(
                "InvalidMessageFault",
                f"Query syntax error at position {position + 1}: unexpected character "
                f"{query[position]!r}.",
                column=position + 1,
            )
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            tokens.append(_Token(kind, match.group(), position + 1))  # type: ignore[arg-type]  # group names are TokenKind
        position = match.end()
    tokens.append(_Token("end", "", len(query) + 1))
    return tokens


class _Parser:
    def __init__(self, query: str) -> None:
        self._tokens = _tokens(query)
        self._index = 0

    def _peek(self) -> _Token:
        return self._tokens[self._index]

    def _take(self) -> _Token:
        token = self._tokens[self._index]
        if token.kind != "end":
            self._index += 1
        return token

    def _keyword(self, word: str) -> None:
        token = self._take()
        if token.kind != "name" or token.text.lower() != word:
            raise _syntax_error(token, f"'{word}'")

    def _is_keyword(self, word: str) -> bool:
        token = self._peek()
        return token.kind == "name" and token.text.lower() == word

    def parse(self) -> ParsedQuery:
        self._keyword("select")
        fields = [self._field()]
        while self._peek().kind == "comma":
            self._take()
            fields.append(self._field())
        self._keyword("from")
        type_token = self._take()
        if type_token.kind != "name" or "." in type_token.text:
            raise _syntax_error(type_token, "a record type name")
        conditions: list[Condition] = []
        if self._is_keyword("where"):
            self._take()
            conditions.append(self._condition())
            while self._is_keyword("and"):
                self._take()
                conditions.append(self._condition())
        end = self._take()
        if end.kind != "end":
            expected = "'and' or the end of the query" if conditions else "'where'"
            raise _syntax_error(end, expected)
        return ParsedQuery(tuple(fields), type_token.text, tuple(conditions))

    def _field(self) -> str:
        token = self._take()
        if token.kind == "star":
            return "*"
        if token.kind != "name" or token.text.lower() in {"from", "where", "and"}:
            raise _syntax_error(token, "a field name or '*'")
        return token.text

    def _condition(self) -> Condition:
        field = self._take()
        if field.kind != "name" or field.text.endswith("*"):
            raise _syntax_error(field, "a field name")
        equals = self._take()
        if equals.kind != "equals":
            raise _syntax_error(equals, "'=' (the only comparison supported)")
        literal = self._take()
        if literal.kind == "string":
            quote = literal.text[0]
            value: str | Decimal = literal.text[1:-1].replace(quote * 2, quote)
        elif literal.kind == "number":
            value = Decimal(literal.text)
        elif literal.kind == "name" and literal.text.lower() in _BOOLEANS:
            value = literal.text.lower()  # a boolean field compared with true / false
        else:
            raise _syntax_error(literal, "a quoted string, a number, true or false")
        return Condition(field.text, value, field.position)


def parse_query(query: str) -> ParsedQuery:
    """Parse a Query string; ``InvalidMessageFault`` naming the position on a syntax error."""
    return _Parser(query).parse()
