"""docs/config.md against the code: every key of every model documented with its default, and
the complete example (TOML and YAML) loading with the built-in plugin."""

from __future__ import annotations

import inspect
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ConfigDict, SecretStr
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from syncframe import hookimpl
from syncframe.components import BatchResult, Sink
from syncframe.config import config_json_schema, load_config, models
from syncframe.config.resolved import ConfigError
from syncframe.host import Host
from syncframe.registry import ComponentRegistrar, Registry, SystemRegistrar

ROOT = Path(__file__).resolve().parents[2]
CONFIG_MD = ROOT / "docs" / "config.md"

_MODEL_MARKER = re.compile(r"<!-- model: (\w+) -->")
_EXAMPLE = re.compile(r"<!-- example: (\w+) -->\n```\w+\n(.*?)```", re.DOTALL)
_ROW = re.compile(r"^\| `([^`]+)` \|(.*)$", re.MULTILINE)

MODELS = sorted(
    (
        cls
        for _, cls in inspect.getmembers(models, inspect.isclass)
        if issubclass(cls, BaseModel)
        and cls.__module__ == models.__name__
        and not cls.__name__.startswith("_")
    ),
    key=lambda cls: cls.__name__,
)


def text() -> str:
    return CONFIG_MD.read_text(encoding="utf-8")


def sections() -> dict[str, str]:
    """Model name -> its reference section (from its marker to the next heading)."""
    found: dict[str, str] = {}
    doc = text()
    for match in _MODEL_MARKER.finditer(doc):
        end = doc.find("\n#", match.end())
        found[match.group(1)] = doc[match.end() : end if end >= 0 else len(doc)]
    return found


def rows(section: str) -> dict[str, list[str]]:
    """Key -> the other cells of its reference row."""
    return {
        key: [cell.strip() for cell in rest.strip().strip("|").split("|")]
        for key, rest in _ROW.findall(section)
    }


def keys_of(model: type[BaseModel]) -> dict[str, Any]:
    return {info.alias or name: info for name, info in model.model_fields.items()}


def toml_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def test_the_models_are_found() -> None:
    names = {cls.__name__ for cls in MODELS}
    assert {"SyncframeConfig", "FlowConfig", "ConnectionConfig", "FieldRule"} <= names


@pytest.mark.parametrize("model", MODELS, ids=lambda cls: cls.__name__)
def test_every_key_is_documented(model: type[BaseModel]) -> None:
    section = sections().get(model.__name__)
    assert section is not None, f"docs/config.md has no '<!-- model: {model.__name__} -->'"
    documented = rows(section)
    assert set(documented) == set(keys_of(model)), (
        f"{model.__name__}: missing from docs/config.md: "
        f"{sorted(set(keys_of(model)) - set(documented))}; documented but not in the model: "
        f"{sorted(set(documented) - set(keys_of(model)))}"
    )
    for key, info in keys_of(model).items():
        kind, default, meaning = documented[key][:3]
        assert kind, f"{model.__name__}.{key}: no type"
        assert meaning, f"{model.__name__}.{key}: no meaning"
        if info.default is PydanticUndefined and info.default_factory is None:
            assert default == "required", f"{model.__name__}.{key}"
        elif info.default is None:
            assert default == "not set", f"{model.__name__}.{key}"
        elif isinstance(info.default, bool | int | float | str):
            assert default == f"`{toml_literal(info.default)}`", f"{model.__name__}.{key}"


def test_no_section_for_a_model_that_does_not_exist() -> None:
    assert set(sections()) == {cls.__name__ for cls in MODELS}


# --------------------------------------------------------------------------------------------
# The complete example, with the built-in plugin and a stand-in for the Mailchimp connector.


class MailchimpSettings(BaseSettings):
    """Stand-in for the Mailchimp connector's settings."""

    api_key: SecretStr
    server_prefix: str


class MembersOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    list_id: str


class MembersSink(Sink[MembersOptions]):
    """Stand-in for the Mailchimp connector's audience sink."""

    Options = MembersOptions
    system = "mailchimp"

    async def write(self, changes: Any, plan: Any) -> BatchResult:
        raise NotImplementedError


class MailchimpStandIn:
    __name__ = "mailchimp_stand_in"

    @hookimpl
    def syncframe_register_systems(self, register: SystemRegistrar) -> None:
        register("mailchimp", MailchimpSettings)

    @hookimpl
    def syncframe_register_sinks(self, register: ComponentRegistrar) -> None:
        register("mailchimp_members", MembersSink)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Host(plugins=[MailchimpStandIn()], entry_points=False).registry


def examples() -> dict[str, str]:
    return {kind: body for kind, body in _EXAMPLE.findall(text())}


def test_toml_and_yaml_examples_say_the_same() -> None:
    found = examples()
    assert set(found) == {"toml", "yaml"}
    assert tomllib.loads(found["toml"]) == yaml.safe_load(found["yaml"])


@pytest.mark.parametrize("kind", ["toml", "yaml"])
def test_example_loads(tmp_path: Path, registry: Registry, kind: str) -> None:
    path = tmp_path / f"flows.{kind}"
    path.write_text(examples()[kind], encoding="utf-8")
    loaded = load_config(path, registry, environ={"SYNCFRAME_MAILCHIMP_API_KEY": "k-us21"})
    assert list(loaded.flows) == ["donors_to_db", "donors_to_mailchimp"]
    db = loaded.flows["donors_to_db"]
    assert db.sink.component.name == "sql_table"
    assert [m.component.name for m in db.matchers] == ["key_cascade"]
    settings = loaded.connections["mailchimp"].settings
    assert isinstance(settings, MailchimpSettings)
    assert settings.api_key.get_secret_value() == "k-us21"
    assert loaded.state_url == f"sqlite:///{tmp_path.as_posix()}/state/syncframe.db"


def test_example_matches_the_schema(registry: Registry) -> None:
    schema = config_json_schema(registry)
    Draft202012Validator.check_schema(schema)
    check = Draft202012Validator(schema)
    for body in (tomllib.loads(examples()["toml"]), yaml.safe_load(examples()["yaml"])):
        assert [e.message for e in check.iter_errors(body)] == []


def test_documented_problems_are_what_the_loader_says(tmp_path: Path, registry: Registry) -> None:
    path = tmp_path / "flows.toml"
    path.write_text(examples()["toml"].replace('"sql_table"', '"sql_tabel"'), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, registry, environ={})
    said = {str(p).replace(str(path), "flows.toml") for p in caught.value.problems}
    shown = re.findall(r"^flows\.toml:\d+: .*$", text(), re.MULTILINE)
    assert shown
    assert set(shown) <= said
