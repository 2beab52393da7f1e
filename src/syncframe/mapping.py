"""Field mapping: turns a change's fields (source names) into the target's fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from syncframe.config.models import FieldRule, MappingConfig
from syncframe.records import Change

__all__ = ["FieldMapping", "MappingError"]


class MappingError(ValueError):
    """A change that cannot be mapped; the message is the reason it is rejected."""


def _empty(value: Any) -> bool:
    return value is None or value == ""


class FieldMapping:
    """A compiled mapping. ``FieldMapping(None)`` passes fields through unchanged."""

    def __init__(
        self,
        config: MappingConfig | None,
        converters: dict[str, Callable[[Any], Any]],
    ) -> None:
        self.config = config
        self._rules: list[tuple[str, FieldRule]] = []
        self._converters = converters
        if config is not None:
            for target, rule in config.fields.items():
                self._rules.append(
                    (target, FieldRule(**{"from": rule}) if isinstance(rule, str) else rule)
                )
        self.identity = config is None

    def apply(self, change: Change) -> Change:
        """The change with target-side fields; raises :class:`MappingError` with the reason."""
        if self.identity:
            return change
        assert self.config is not None
        source = change.fields
        out: dict[str, Any] = dict(source) if self.config.unmapped == "keep" else {}
        for target, rule in self._rules:
            if rule.from_ is not None:
                if (
                    rule.from_ not in source
                    and rule.default is None
                    and change.operation != "delete"
                ):
                    if rule.required:
                        raise MappingError(
                            f"{change.describe()}: field {rule.from_!r} is missing "
                            f"(needed for {target!r})"
                        )
                    continue
                value = source.get(rule.from_)
            elif rule.template is not None:
                try:
                    value = rule.template.format_map(_Blank(source))
                except (ValueError, IndexError) as exc:
                    raise MappingError(f"template for {target!r} failed: {exc}") from None
            else:
                value = rule.value
            if _empty(value) and rule.default is not None:
                value = rule.default
            for name in rule.convert:
                if _empty(value):
                    break
                try:
                    value = self._converters[name](value)
                except (ValueError, TypeError) as exc:
                    raise MappingError(
                        f"{change.describe()}: field {target!r}: {name}: {exc}"
                    ) from None
            if rule.required and _empty(value) and change.operation != "delete":
                raise MappingError(f"{change.describe()}: field {target!r} is required but empty")
            out[target] = value
        return change.replace(fields=out)


class _Blank(dict[str, Any]):
    """Template values: a missing field reads as empty rather than raising KeyError."""

    def __missing__(self, key: str) -> str:
        return ""
