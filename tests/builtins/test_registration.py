"""The built-ins register through the hooks, like any plugin."""

from __future__ import annotations

from syncframe.host import Host


def test_builtins_register_every_component_by_name() -> None:
    registry = Host(entry_points=False).registry

    assert registry.provided_by("builtins") == {
        "sources": ["csv", "jsonl"],
        "sinks": ["csv", "jsonl", "sql_table"],
        "matchers": ["identity_map", "key_cascade"],
        "loop_guards": ["echo", "one_way_window"],
        "filters": ["field_equals", "field_present", "operation_in"],
        "converters": [
            "bool",
            "date",
            "digits",
            "empty_to_none",
            "float",
            "int",
            "lower",
            "phone_digits",
            "strip",
            "title",
            "upper",
        ],
    }
    for kind in ("sources", "sinks", "matchers", "loop_guards", "filters"):
        for item in registry.tables()[kind].values():
            assert item.system is None
            assert item.description, f"{kind} {item.name} has no description"
            assert item.options.model_config.get("extra") == "forbid"
            for name, field in item.options.model_fields.items():
                assert field.description, f"{kind} {item.name}: option {name} undocumented"
    for converter in registry.converters.values():
        assert converter.description
