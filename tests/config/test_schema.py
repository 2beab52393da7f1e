"""The JSON Schema of flow files accepts what the loader accepts and rejects wrong types."""

from __future__ import annotations

import copy
import json
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ConfigDict

from syncframe.components import Sink
from syncframe.config import config_json_schema
from syncframe.config.schema import JSON_SCHEMA_DIALECT
from syncframe.registry import ComponentRegistrar, Registry
from tests.config.conftest import build_registry
from tests.config.test_loader import GOOD_TOML, GOOD_YAML


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def validator(registry: Registry) -> Draft202012Validator:
    schema = config_json_schema(registry)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def errors(check: Draft202012Validator, data: Any) -> list[str]:
    return [e.message for e in check.iter_errors(data)]


@pytest.fixture(scope="module")
def check() -> Draft202012Validator:
    return validator(build_registry())


@pytest.fixture
def good() -> dict[str, Any]:
    return tomllib.loads(GOOD_TOML)


class TestShape:
    """The schema itself."""

    def test_is_a_valid_2020_12_schema_whose_refs_resolve(self) -> None:
        schema = config_json_schema(build_registry())
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == JSON_SCHEMA_DIALECT
        json.dumps(schema)  # plain JSON, nothing pydantic-specific left
        for ref in refs(schema):
            assert ref.startswith("#/$defs/"), ref
            assert ref.removeprefix("#/$defs/") in schema["$defs"], ref
        assert "ComponentConfig" not in schema["$defs"]
        assert "ConnectionConfig" not in schema["$defs"]

    def test_components_are_one_of_their_types(self) -> None:
        defs = config_json_schema(build_registry())["$defs"]
        assert defs["Sink"] == {
            "oneOf": [
                {"$ref": "#/$defs/sink.csv"},
                {"$ref": "#/$defs/sink.jsonl"},
                {"$ref": "#/$defs/sink.mail_members"},
                {"$ref": "#/$defs/sink.sql_table"},
            ]
        }
        members = defs["sink.mail_members"]
        assert members["properties"]["type"]["const"] == "mail_members"
        assert members["required"] == ["type", "connection", "list_id"]
        assert members["additionalProperties"] is False
        assert defs["FlowConfig"]["properties"]["filters"]["items"] == {"$ref": "#/$defs/Filter"}

    def test_connections_are_one_of_their_systems(self) -> None:
        defs = config_json_schema(build_registry())["$defs"]
        crm = defs["system.crm"]
        assert crm["properties"]["system"]["const"] == "crm"
        assert {"max_concurrency", "retry", "url", "password"} <= set(crm["properties"])
        assert crm["properties"]["password"]["writeOnly"] is True
        assert crm["required"] == ["system"]


class TestValidation:
    """Documents checked against the schema."""

    def test_good_toml_and_yaml(self, check: Draft202012Validator) -> None:
        assert errors(check, tomllib.loads(GOOD_TOML)) == []
        assert errors(check, yaml.safe_load(GOOD_YAML)) == []

    def test_empty_file(self, check: Draft202012Validator) -> None:
        assert errors(check, {}) == []

    @pytest.mark.parametrize(
        "change",
        [
            lambda d: d["flows"]["contacts"]["sink"].update(type="jsnol"),
            lambda d: d["flows"]["contacts"]["filters"][0].update(type="only_activ"),
            lambda d: d["flows"]["contacts"]["source"].pop("connection"),
            lambda d: d["flows"]["contacts"]["source"].update(colour="red"),
            lambda d: d["flows"]["contacts"]["sink"].pop("list_id"),
            lambda d: d["flows"]["contacts"].update(batchsize=3),
            lambda d: d["flows"]["contacts"]["schedule"].update(every="soon"),
            lambda d: d["flows"]["contacts"]["mapping"].update(unmapped="sometimes"),
            lambda d: d["connections"]["crm"].update(system="crmm"),
            lambda d: d["connections"]["crm"].update(page_size="many"),
            lambda d: d["connections"]["crm"].update(max_concurrency=0),
            lambda d: d["connections"].update({"bad name": {"system": "mail"}}),
            lambda d: d.update(flow={}),
        ],
    )
    def test_rejects(self, check: Draft202012Validator, good: dict[str, Any], change: Any) -> None:
        bad = copy.deepcopy(good)
        change(bad)
        assert errors(check, bad) != []

    @pytest.mark.parametrize(
        "change",
        [
            lambda d: d["flows"]["contacts"]["schedule"].update(every=300),
            lambda d: d["flows"]["contacts"]["schedule"].update(every="1.5h"),
            lambda d: d["flows"]["contacts"]["mapping"]["fields"].update(
                x={"from": "y", "convert": "strip"}
            ),
            lambda d: d["connections"]["crm"].update(password="inline"),
            lambda d: d["connections"]["crm"].pop("url"),  # may come from the environment
        ],
    )
    def test_accepts(self, check: Draft202012Validator, good: dict[str, Any], change: Any) -> None:
        change(good)
        assert errors(check, good) == []

    def test_nothing_installed(self) -> None:
        check = validator(Registry())
        assert errors(check, {"flows": {}}) == []
        flow = {"source": {"type": "csv"}, "sink": {"type": "csv"}}
        assert errors(check, {"flows": {"f": flow}}) != []
        assert errors(check, {"connections": {"c": {"system": "crm"}}}) != []


def _sink_a() -> type[Sink[Any]]:
    class Auth(BaseModel):
        model_config = ConfigDict(extra="forbid")

        token: str

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        auth: Auth

    class ASink(Sink[Any]):
        async def write(self, changes: Any, plan: Any) -> Any:
            raise NotImplementedError

    ASink.Options = Options
    return ASink


def _sink_b() -> type[Sink[Any]]:
    class Auth(BaseModel):
        model_config = ConfigDict(extra="forbid")

        user: str
        port: int

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        auth: Auth

    class BSink(Sink[Any]):
        async def write(self, changes: Any, plan: Any) -> Any:
            raise NotImplementedError

    BSink.Options = Options
    return BSink


def test_same_model_names_from_two_plugins_do_not_clash() -> None:
    registry = build_registry()
    ComponentRegistrar(registry, "sink", Sink, registry.sinks, "a")("a_sink", _sink_a())
    ComponentRegistrar(registry, "sink", Sink, registry.sinks, "b")("b_sink", _sink_b())
    defs = config_json_schema(registry)["$defs"]
    # Both plugins call their nested model "Auth": each keeps its own definition.
    assert set(defs["sink.a_sink.Auth"]["properties"]) == {"token"}
    assert set(defs["sink.b_sink.Auth"]["properties"]) == {"user", "port"}
    check = validator(registry)

    def flow(sink: dict[str, Any]) -> dict[str, Any]:
        source = {"type": "csv", "path": "in.csv"}
        return {"flows": {"f": {"source": source, "sink": sink}}}

    assert errors(check, flow({"type": "a_sink", "auth": {"token": "t"}})) == []
    assert errors(check, flow({"type": "b_sink", "auth": {"user": "u", "port": 1}})) == []
    assert errors(check, flow({"type": "a_sink", "auth": {"user": "u", "port": 1}})) != []
    assert errors(check, flow({"type": "b_sink", "auth": {"token": "t"}})) != []
