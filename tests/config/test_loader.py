"""Loading flow files: what a good file resolves to, and every problem a bad one has."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest
from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings

from syncframe.config import ConfigError, ConfigProblem, LoadedConfig, load_config
from syncframe.config.loader import env_prefix, format_path, state_url_for
from syncframe.registry import Registry, SystemRegistrar
from tests.config.conftest import CrmSettings, KeyCascade, MailMembers, MailSettings

GOOD_TOML = dedent(
    """\
    [state]
    url = "sqlite:///state/sync.db"

    [connections.crm]
    system = "crm"
    url = "http://127.0.0.1:8001"
    user = "sync"
    max_concurrency = 8

    [connections.crm.retry]
    attempts = 3

    [connections.mail]
    system = "mail"

    [flows.contacts]
    description = "CRM contacts to the mailing list"
    batch_size = 200
    source = { type = "crm_contacts", connection = "crm", since_days = 7 }

    [flows.contacts.sink]
    type = "mail_members"
    connection = "mail"
    list_id = "abc123"

    [[flows.contacts.filters]]
    type = "only_active"
    keep = ["active", "lapsed"]

    [[flows.contacts.matchers]]
    type = "key_cascade"
    keys = ["email", "crm_id"]

    [[flows.contacts.loop_guards]]
    type = "echo"

    [flows.contacts.mapping.fields]
    email_address = { from = "email", convert = ["strip", "lower"] }
    full_name = { template = "{first} {last}" }
    crm_id = "id"

    [flows.contacts.schedule]
    every = "15m"

    [flows.export]
    enabled = false
    source = { type = "csv", path = "in.csv" }
    sink = { type = "jsonl", path = "out.jsonl", key = "email" }
    """
)

GOOD_YAML = dedent(
    """\
    state:
      url: sqlite:///state/sync.db
    connections:
      crm:
        system: crm
        url: http://127.0.0.1:8001
        user: sync
        max_concurrency: 8
        retry:
          attempts: 3
      mail:
        system: mail
    flows:
      contacts:
        description: CRM contacts to the mailing list
        batch_size: 200
        source: {type: crm_contacts, connection: crm, since_days: 7}
        sink:
          type: mail_members
          connection: mail
          list_id: abc123
        filters:
          - type: only_active
            keep: [active, lapsed]
        matchers:
          - type: key_cascade
            keys: [email, crm_id]
        loop_guards:
          - type: echo
        mapping:
          fields:
            email_address: {from: email, convert: [strip, lower]}
            full_name: {template: "{first} {last}"}
            crm_id: id
        schedule:
          every: 15m
      export:
        enabled: false
        source: {type: csv, path: in.csv}
        sink: {type: jsonl, path: out.jsonl, key: email}
    """
)

SECRETS = {"SYNCFRAME_CRM_PASSWORD": "hunter2-crm", "SYNCFRAME_MAIL_API_KEY": "mail-key-77"}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(dedent(text), encoding="utf-8")
    return path


def problems_of(path: Path, registry: Registry, **kwargs: object) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, registry, **kwargs)  # type: ignore[arg-type]
    return caught.value.problems


def only_problem(path: Path, registry: Registry, **kwargs: object) -> ConfigProblem:
    problems = problems_of(path, registry, **kwargs)
    assert len(problems) == 1, problems
    return problems[0]


class TestGoodFiles:
    """A valid file resolves every component, connection and setting."""

    def check_contacts(self, loaded: LoadedConfig) -> None:
        crm = loaded.connections["crm"]
        assert isinstance(crm.settings, CrmSettings)
        assert crm.settings.url == "http://127.0.0.1:8001"
        assert crm.settings.password.get_secret_value() == "hunter2-crm"
        assert crm.config.max_concurrency == 8
        assert crm.config.retry.attempts == 3
        mail = loaded.connections["mail"].settings
        assert isinstance(mail, MailSettings)
        assert mail.api_key.get_secret_value() == "mail-key-77"

        flow = loaded.flows["contacts"]
        assert flow.config.batch_size == 200
        assert flow.config.schedule is not None
        assert flow.config.schedule.every.total_seconds() == 900
        assert flow.source.component.name == "crm_contacts"
        assert flow.source.options.model_dump() == {"entity": "contact", "since_days": 7}
        assert flow.source.connection is crm
        assert flow.sink.component.cls is MailMembers
        assert flow.sink.options.model_dump() == {"list_id": "abc123"}
        assert flow.sink.connection_name == "mail"
        assert flow.sink.path == "flows.contacts.sink"
        assert [f.options.model_dump() for f in flow.filters] == [
            {"field": "status", "keep": ["active", "lapsed"]}
        ]
        assert flow.filters[0].path == "flows.contacts.filters[0]"
        assert [m.component.cls for m in flow.matchers] == [KeyCascade]
        assert [g.component.name for g in flow.loop_guards] == ["echo"]
        assert flow.loop_guards[0].connection is None
        assert flow.loop_guards[0].connection_name == "echo"
        assert flow.config.mapping is not None
        rule = flow.config.mapping.fields["email_address"]
        assert not isinstance(rule, str)
        assert rule.from_ == "email"
        assert rule.convert == ["strip", "lower"]

        export = loaded.flows["export"]
        assert export.config.enabled is False
        assert export.sink.options.model_dump() == {"path": "out.jsonl", "key": "email"}

    def test_toml(self, tmp_path: Path, registry: Registry) -> None:
        path = write(tmp_path, "flows.toml", GOOD_TOML)
        loaded = load_config(str(path), registry, environ=SECRETS)
        self.check_contacts(loaded)
        assert loaded.path == path.absolute()
        assert loaded.base_dir == tmp_path
        assert loaded.state_url == f"sqlite:///{tmp_path.as_posix()}/state/sync.db"

    @pytest.mark.parametrize("suffix", [".yaml", ".yml"])
    def test_yaml_loads_the_same(self, tmp_path: Path, registry: Registry, suffix: str) -> None:
        toml = load_config(write(tmp_path, "flows.toml", GOOD_TOML), registry, environ=SECRETS)
        yaml = load_config(write(tmp_path, f"f{suffix}", GOOD_YAML), registry, environ=SECRETS)
        self.check_contacts(yaml)
        assert yaml.config == toml.config
        assert yaml.state_url == toml.state_url

    def test_default_state_is_beside_the_file(self, tmp_path: Path, registry: Registry) -> None:
        folder = tmp_path / "sync"
        folder.mkdir()
        path = write(folder, "empty.toml", "")
        loaded = load_config(path, registry)
        assert loaded.flows == {}
        assert loaded.connections == {}
        assert loaded.state_url == f"sqlite:///{folder.as_posix()}/syncframe-state.db"

    def test_empty_yaml_is_an_empty_config(self, tmp_path: Path, registry: Registry) -> None:
        loaded = load_config(write(tmp_path, "empty.yaml", "# nothing yet\n"), registry)
        assert loaded.flows == {}

    def test_relative_path_is_read_against_the_file(
        self, tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        write(tmp_path, "flows.toml", GOOD_TOML)
        monkeypatch.chdir(tmp_path)
        loaded = load_config("flows.toml", registry, environ=SECRETS)
        assert loaded.path == tmp_path / "flows.toml"
        assert loaded.state_url == f"sqlite:///{tmp_path.as_posix()}/state/sync.db"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///state.db", "sqlite:////base/state.db"),
        ("sqlite:///sub/state.db?mode=rwc", "sqlite:////base/sub/state.db?mode=rwc"),
        ("sqlite:////var/lib/state.db", "sqlite:////var/lib/state.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql://u:p@db/sync", "postgresql://u:p@db/sync"),
    ],
)
def test_state_url_for(url: str, expected: str) -> None:
    assert state_url_for(url, Path("/base")) == expected


def test_format_path_and_env_prefix() -> None:
    assert format_path(("flows", "x", "filters", 0, "type")) == "flows.x.filters[0].type"
    assert format_path(("flows", "a b", "sink")) == 'flows."a b".sink'
    assert env_prefix("my-crm") == "SYNCFRAME_MY_CRM_"


BROKEN_TOML = """\
[state]
url = 5

[connections.crm]
system = "crmm"
url = "http://127.0.0.1"

[connections.mail]
system = "mail"
sever = "us2"

[flows.contacts]
batchsize = 10
source = { type = "crm_contacts", connection = "crn" }

[flows.contacts.sink]
type = "jsnol"
path = "out.jsonl"

[[flows.contacts.filters]]
type = "only_active"

[[flows.contacts.filters]]
type = "only_active"
keep = "active"

[flows.contacts.mapping.fields]
email = { from = "email", convert = ["strip", "upper"] }
name = { from = "first", template = "{first} {last}" }

[flows.second]
source = { type = "crm_contacts" }
sink = { type = "csv", path = "x.csv" }
matchers = [{ type = "key_cascade", keys = ["email"] }]
schedule = { every = "soon" }

[flows.third]
source = { type = "crm_contacts", connection = "mail", colour = "red" }
sink = { type = "csv", path = "out.csv" }

[flows.fourth]
source = { type = "csv", path = "in.csv" }
sink = { type = "mail_members", connection = "mail" }

[flows."bad name"]
source = { type = "csv", path = "in.csv" }
sink = { type = "csv", path = "out.csv" }
"""


class TestBrokenFile:
    """Every mistake is reported, in file order, on its own line."""

    def test_every_problem_with_its_line(self, tmp_path: Path, registry: Registry) -> None:
        path = write(tmp_path, "broken.toml", BROKEN_TOML)
        problems = problems_of(path, registry, environ={})
        found = [(p.line, p.path, p.message) for p in problems]
        assert all(p.file == str(path) for p in problems)
        assert found == [
            (2, "state.url", "Input should be a valid string (got 5)"),
            (
                5,
                "connections.crm.system",
                "unknown system type 'crmm'; installed system types: crm, mail",
            ),
            (
                8,
                "connections.mail.api_key",
                "missing; set SYNCFRAME_MAIL_API_KEY in the environment or .env",
            ),
            (
                10,
                "connections.mail.sever",
                "unknown key (did you mean 'server'?); allowed here: api_key, max_concurrency, "
                "rate_limit, retry, server, system, timeout",
            ),
            (
                13,
                "flows.contacts.batchsize",
                "unknown key (did you mean 'batch_size'?); allowed here: batch_size, "
                "description, enabled, filters, history, loop_guards, mapping, matchers, "
                "max_failed_share, schedule, sink, source, step_log",
            ),
            (
                14,
                "flows.contacts.source.connection",
                "unknown connection 'crn'; defined connections: crm, mail",
            ),
            (
                17,
                "flows.contacts.sink.type",
                "unknown sink type 'jsnol'; installed sink types: csv, jsonl, mail_members, "
                "sql_table",
            ),
            (25, "flows.contacts.filters[1].keep", "Input should be a valid list (got 'active')"),
            (
                28,
                "flows.contacts.mapping.fields.email.convert[1]",
                "unknown converter 'upper'; available converters: lower, strip",
            ),
            (
                29,
                "flows.contacts.mapping.fields.name",
                "give only one of from / value / template, not from and template",
            ),
            (
                32,
                "flows.second.source",
                "source type 'crm_contacts' needs a connection of system 'crm'; "
                "no crm connection is defined",
            ),
            (
                34,
                "flows.second.matchers[0]",
                "matcher key_cascade needs a sink that can look up records; sink type csv cannot",
            ),
            (
                35,
                "flows.second.schedule.every",
                "'soon' is not a duration: use a number of seconds or e.g. '90s', '5m', '1h', '1d'",
            ),
            (
                38,
                "flows.third.source.colour",
                "unknown key; allowed here: connection, entity, since_days, type",
            ),
            (
                38,
                "flows.third.source.connection",
                "connection 'mail' is a mail connection; source type 'crm_contacts' needs a crm "
                "connection (no crm connection is defined)",
            ),
            (43, "flows.fourth.sink.list_id", "missing"),
            (
                45,
                'flows."bad name"',
                "flow name 'bad name' is not valid: use letters, digits, '_' and '-', "
                "starting with a letter or '_'",
            ),
        ]
        assert str(problems[0]) == f"{path}:2: state.url: Input should be a valid string (got 5)"
        assert str(ConfigError(problems)).count("\n") == len(problems) - 1

    def test_yaml_lines_come_from_the_nodes(self, tmp_path: Path, registry: Registry) -> None:
        path = write(
            tmp_path,
            "broken.yaml",
            """\
            connections:
              crm:
                system: crm
                url: http://127.0.0.1
                user: sync
                page_size: many
            flows:
              contacts:
                source:
                  type: crm_contacts
                  connection: crm
                sink:
                  type: jsnol
                filters:
                  - type: only_active
                  - type: only_activ
                mapping:
                  fields:
                    email: {from: email, convert: upper}
                  unmapped: sometimes
            """,
        )
        found = [(p.line, p.path, p.message) for p in problems_of(path, registry, environ={})]
        assert found == [
            (
                2,
                "connections.crm.password",
                "missing; set SYNCFRAME_CRM_PASSWORD in the environment or .env",
            ),
            (
                6,
                "connections.crm.page_size",
                "Input should be a valid integer, unable to parse string as an integer",
            ),
            (
                13,
                "flows.contacts.sink.type",
                "unknown sink type 'jsnol'; installed sink types: csv, jsonl, mail_members, "
                "sql_table",
            ),
            (
                16,
                "flows.contacts.filters[1].type",
                "unknown filter type 'only_activ'; installed filter types: only_active",
            ),
            (
                19,
                "flows.contacts.mapping.fields.email.convert",
                "unknown converter 'upper'; available converters: lower, strip",
            ),
            (
                20,
                "flows.contacts.mapping.unmapped",
                "Input should be 'drop' or 'keep' (got 'sometimes')",
            ),
        ]

    def test_yaml_key_given_twice(self, tmp_path: Path, registry: Registry) -> None:
        path = write(
            tmp_path,
            "twice.yaml",
            """\
            flows:
              export:
                source: {type: csv, path: a.csv}
                sink: {type: csv, path: b.csv}
                source: {type: csv, path: c.csv}
            """,
        )
        problem = only_problem(path, registry)
        assert (problem.line, problem.path) == (5, "flows.export.source")
        assert problem.message == "given twice (first on line 3); only one is allowed"

    def test_missing_key_points_at_its_table(self, tmp_path: Path, registry: Registry) -> None:
        path = write(
            tmp_path,
            "f.toml",
            """\
            [flows.export]
            description = "no sink"

            [flows.export.source]
            type = "csv"
            """,
        )
        found = [(p.line, p.path, p.message) for p in problems_of(path, registry)]
        assert found == [
            (1, "flows.export.sink", "missing"),
            (4, "flows.export.source.path", "missing"),
        ]

    def test_union_noise_is_merged(self, tmp_path: Path, registry: Registry) -> None:
        path = write(
            tmp_path,
            "f.toml",
            """\
            [flows.export]
            source = { type = "csv", path = "a.csv" }
            sink = { type = "csv", path = "b.csv" }

            [flows.export.mapping.fields]
            a = 5
            b = { fromm = "x" }
            """,
        )
        found = [(p.line, p.path, p.message) for p in problems_of(path, registry)]
        assert found == [
            (
                6,
                "flows.export.mapping.fields.a",
                "Input should be a valid string, or a valid dictionary or instance of FieldRule "
                "(got 5)",
            ),
            (
                7,
                "flows.export.mapping.fields.b.fromm",
                "unknown key (did you mean 'from'?); allowed here: convert, default, from, "
                "required, template, value",
            ),
        ]

    def test_top_level(self, tmp_path: Path, registry: Registry) -> None:
        path = write(tmp_path, "f.toml", 'flow = "x"\n\n[conections.crm]\nsystem = "crm"\n')
        found = [(p.line, p.path, p.message) for p in problems_of(path, registry)]
        assert found == [
            (
                1,
                "flow",
                "unknown key (did you mean 'flows'?); allowed here: connections, flows, state",
            ),
            (
                3,
                "conections",
                "unknown key (did you mean 'connections'?); allowed here: "
                "connections, flows, state",
            ),
        ]

    def test_not_a_mapping(self, tmp_path: Path, registry: Registry) -> None:
        problem = only_problem(write(tmp_path, "f.yaml", "- a\n- b\n"), registry)
        assert problem.message.startswith("a flow file must be a table")

    def test_connection_names_are_identifiers(self, tmp_path: Path, registry: Registry) -> None:
        path = write(
            tmp_path,
            "f.toml",
            '[connections."9lives"]\nsystem = "mail"\napi_key = "k"\n',
        )
        problem = only_problem(path, registry)
        assert (problem.line, problem.path) == (1, "connections.9lives")
        assert "connection name '9lives' is not valid" in problem.message


class TestUnreadable:
    """A file that cannot be read or parsed is one problem with its line, not a traceback."""

    def test_missing_file(self, tmp_path: Path, registry: Registry) -> None:
        problem = only_problem(tmp_path / "nope.toml", registry)
        assert problem == ConfigProblem(str(tmp_path / "nope.toml"), None, "", "no such file")
        assert str(problem) == f"{tmp_path / 'nope.toml'}: no such file"

    def test_directory(self, tmp_path: Path, registry: Registry) -> None:
        (tmp_path / "d.toml").mkdir()
        assert only_problem(tmp_path / "d.toml", registry).message.startswith("is a directory")

    def test_unsupported_suffix(self, tmp_path: Path, registry: Registry) -> None:
        problem = only_problem(write(tmp_path, "f.json", "{}"), registry)
        assert problem.message == "unsupported file type '.json': use .toml, .yaml or .yml"

    def test_not_utf8(self, tmp_path: Path, registry: Registry) -> None:
        path = tmp_path / "f.toml"
        path.write_bytes(b'description = "caf\xe9"\n')
        assert only_problem(path, registry).message == "not UTF-8 text (byte 18)"

    def test_toml_syntax_error_line(self, tmp_path: Path, registry: Registry) -> None:
        path = write(tmp_path, "f.toml", '[flows.x]\nbatch_size = 3\nsink = = "x"\n')
        problem = only_problem(path, registry)
        assert problem.line == 3
        assert problem.message == "not valid TOML: Invalid value"

    def test_toml_error_at_end(self, tmp_path: Path, registry: Registry) -> None:
        problem = only_problem(write(tmp_path, "f.toml", 'a = "x'), registry)
        assert problem.line == 1
        assert problem.message.startswith("not valid TOML: ")

    def test_yaml_syntax_error_line_without_the_text(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        path = write(
            tmp_path,
            "f.yaml",
            'connections:\n  crm:\n    password: "s3cret\n    user: x\n',
        )
        problem = only_problem(path, registry)
        assert problem.line is not None
        assert problem.line >= 3
        assert problem.message.startswith("not valid YAML: ")
        assert "s3cret" not in str(problem)

    def test_yaml_bad_indentation(self, tmp_path: Path, registry: Registry) -> None:
        path = write(tmp_path, "f.yaml", "flows:\n  x:\n    a: 1\n   b: 2\n")
        problem = only_problem(path, registry)
        assert problem.line == 4
        assert problem.message.startswith("not valid YAML: ")


class TestSecrets:
    """Secrets come from the file, ``environ``, the process environment or ``.env``."""

    CRM = '[connections.crm]\nsystem = "crm"\nurl = "http://127.0.0.1"\nuser = "sync"\n'

    def test_from_environ_case_insensitive(self, tmp_path: Path, registry: Registry) -> None:
        path = write(tmp_path, "f.toml", self.CRM)
        loaded = load_config(path, registry, environ={"syncframe_crm_Password": "pw-1"})
        settings = loaded.connections["crm"].settings
        assert isinstance(settings, CrmSettings)
        assert isinstance(settings.password, SecretStr)
        assert settings.password.get_secret_value() == "pw-1"
        assert "pw-1" not in repr(settings)

    def test_file_values_come_before_environ(self, tmp_path: Path, registry: Registry) -> None:
        path = write(tmp_path, "f.toml", self.CRM)
        loaded = load_config(
            path,
            registry,
            environ={
                "SYNCFRAME_CRM_PASSWORD": "pw",
                "SYNCFRAME_CRM_USER": "other",
                "SYNCFRAME_CRM_PAGE_SIZE": "25",
                "SYNCFRAME_MAIL_PAGE_SIZE": "7",
            },
        )
        settings = loaded.connections["crm"].settings
        assert isinstance(settings, CrmSettings)
        assert (settings.user, settings.page_size) == ("sync", 25)

    def test_from_process_environment(
        self, tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SYNCFRAME_CRM_PASSWORD", "from-os")
        loaded = load_config(write(tmp_path, "f.toml", self.CRM), registry)
        settings = loaded.connections["crm"].settings
        assert isinstance(settings, CrmSettings)
        assert settings.password.get_secret_value() == "from-os"

    def test_from_dotenv_beside_the_file(
        self, tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        folder = tmp_path / "conf"
        folder.mkdir()
        (folder / ".env").write_text("SYNCFRAME_CRM_PASSWORD=from-dotenv\n", encoding="utf-8")
        # A .env in the working directory is not the one that counts.
        (tmp_path / ".env").write_text("SYNCFRAME_CRM_PASSWORD=wrong\n", encoding="utf-8")
        monkeypatch.chdir(tmp_path)
        loaded = load_config(write(folder, "f.toml", self.CRM), registry)
        settings = loaded.connections["crm"].settings
        assert isinstance(settings, CrmSettings)
        assert settings.password.get_secret_value() == "from-dotenv"

    def test_precedence_file_environ_process_dotenv(
        self, tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        (tmp_path / ".env").write_text(
            "SYNCFRAME_CRM_PASSWORD=dotenv\nSYNCFRAME_CRM_PAGE_SIZE=3\n"
            'SYNCFRAME_CRM_TAGS=["a", "b"]\nSYNCFRAME_CRM_URL=http://dotenv\n',
            encoding="utf-8",
        )
        monkeypatch.setenv("SYNCFRAME_CRM_PASSWORD", "process")
        monkeypatch.setenv("SYNCFRAME_CRM_PAGE_SIZE", "2")
        loaded = load_config(
            write(tmp_path, "f.toml", self.CRM),
            registry,
            environ={"SYNCFRAME_CRM_PASSWORD": "explicit"},
        )
        settings = loaded.connections["crm"].settings
        assert isinstance(settings, CrmSettings)
        assert settings.url == "http://127.0.0.1"  # the file
        assert settings.password.get_secret_value() == "explicit"
        assert settings.page_size == 2  # the process environment
        assert settings.tags == ["a", "b"]  # .env, as JSON

    def test_other_variables_in_dotenv_are_ignored(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        # One .env serves every connection (and anything else) of the folder.
        (tmp_path / ".env").write_text(
            "SYNCFRAME_CRM_PASSWORD=pw\nSYNCFRAME_MAIL_API_KEY=k\nSYNCFRAME_CRM_COLOUR=x\n"
            "DATABASE_URL=postgres://elsewhere\nEMPTY=\nNOVALUE\n",
            encoding="utf-8",
        )
        loaded = load_config(write(tmp_path, "f.toml", self.CRM), registry)
        assert set(loaded.connections) == {"crm"}

    def test_bad_value_from_dotenv_says_where(self, tmp_path: Path, registry: Registry) -> None:
        (tmp_path / ".env").write_text(
            "SYNCFRAME_CRM_PASSWORD=pw\nSYNCFRAME_CRM_PAGE_SIZE=lots\n", encoding="utf-8"
        )
        problem = only_problem(write(tmp_path, "f.toml", self.CRM), registry)
        assert problem.path == "connections.crm.page_size"
        assert problem.message.endswith("(the value of SYNCFRAME_CRM_PAGE_SIZE in .env)")

    def test_unreadable_dotenv(self, tmp_path: Path, registry: Registry) -> None:
        (tmp_path / ".env").write_bytes(b"SYNCFRAME_CRM_PASSWORD=caf\xe9\n")
        found = {str(p) for p in problems_of(write(tmp_path, "f.toml", self.CRM), registry)}
        assert f"{tmp_path / '.env'}: cannot read: not UTF-8 text" in found

    def test_no_dotenv_anywhere_else(
        self, tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        folder = tmp_path / "conf"
        folder.mkdir()
        (tmp_path / ".env").write_text("SYNCFRAME_CRM_PASSWORD=wrong\n", encoding="utf-8")
        monkeypatch.chdir(tmp_path)
        problem = only_problem(write(folder, "f.toml", self.CRM), registry)
        assert problem.path == "connections.crm.password"

    def test_missing_non_secret_names_its_variable(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        path = write(tmp_path, "f.toml", '[connections.my-crm]\nsystem = "crm"\nurl = "u"\n')
        found = [(p.line, p.path, p.message) for p in problems_of(path, registry, environ={})]
        assert found == [
            (
                1,
                "connections.my-crm.user",
                "missing; give it here or set SYNCFRAME_MY_CRM_USER (environment or .env)",
            ),
            (
                1,
                "connections.my-crm.password",
                "missing; set SYNCFRAME_MY_CRM_PASSWORD in the environment or .env",
            ),
        ]

    def test_bad_value_from_the_environment_says_so(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        path = write(tmp_path, "f.toml", self.CRM)
        problem = only_problem(
            path,
            registry,
            environ={"SYNCFRAME_CRM_PASSWORD": "pw", "SYNCFRAME_CRM_PAGE_SIZE": "lots"},
        )
        assert problem.path == "connections.crm.page_size"
        assert problem.line == 1
        assert problem.message.endswith("(the value of SYNCFRAME_CRM_PAGE_SIZE)")
        assert "lots" not in problem.message

    def test_secret_values_never_in_messages(self, tmp_path: Path) -> None:
        class TokenSettings(BaseSettings):
            """Echoes its input in errors, as careless validators do."""

            token: SecretStr
            region: str

            @field_validator("token")
            @classmethod
            def _long(cls, value: SecretStr) -> SecretStr:
                raw = value.get_secret_value()
                if len(raw) < 20:
                    raise ValueError(f"token {raw} is too short")
                return value

        registry = Registry()
        SystemRegistrar(registry, "tests")("vault", TokenSettings)
        in_file = write(
            tmp_path, "a.toml", '[connections.v]\nsystem = "vault"\ntoken = "tok-in-file"\n'
        )
        from_env = write(tmp_path, "b.toml", '[connections.v]\nsystem = "vault"\n')
        for path, environ in ((in_file, {}), (from_env, {"SYNCFRAME_V_TOKEN": "tok-from-env"})):
            problems = problems_of(path, registry, environ=environ)
            text = str(ConfigError(problems))
            assert "tok-" not in text
            messages = {p.path: p.message for p in problems}
            assert sorted(messages) == ["connections.v.region", "connections.v.token"]
            assert messages["connections.v.token"].startswith("token *** is too short")

    def test_a_short_secret_does_not_mangle_other_words(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        path = write(tmp_path, "f.toml", self.CRM + "colour = 1\n")
        problem = only_problem(path, registry, environ={"SYNCFRAME_CRM_PASSWORD": "x"})
        assert problem.path == "connections.crm.colour"
        assert "max_concurrency" in problem.message


class TestResolution:
    """Names must exist, and what does exist is listed."""

    @pytest.mark.parametrize(
        ("table", "kind", "installed"),
        [
            ("source", "source", "crm_contacts, csv"),
            ("sink", "sink", "csv, jsonl, mail_members, sql_table"),
            ("filters", "filter", "only_active"),
            ("loop_guards", "loop guard", "echo"),
            ("matchers", "matcher", "key_cascade"),
        ],
    )
    def test_unknown_type_lists_installed(
        self, tmp_path: Path, registry: Registry, table: str, kind: str, installed: str
    ) -> None:
        parts = {
            "source": '{ type = "csv", path = "a.csv" }',
            "sink": '{ type = "sql_table", table = "t" }',
        }
        many = table not in parts
        parts[table] = '{ type = "nope" }'
        body = "\n".join(
            f"{key} = [{value}]" if key == table and many else f"{key} = {value}"
            for key, value in parts.items()
        )
        path = write(tmp_path, "f.toml", f"[flows.f]\n{body}\n")
        problem = only_problem(path, registry)
        index = "[0]" if many else ""
        assert problem.path == f"flows.f.{table}{index}.type"
        assert problem.line == len(parts) + 1 if many else 2 + list(parts).index(table)
        assert problem.message == f"unknown {kind} type 'nope'; installed {kind} types: {installed}"

    def test_nothing_installed(self, tmp_path: Path) -> None:
        path = write(tmp_path, "f.toml", '[flows.f]\nsource = {type = "csv"}\nsink = {type = "x"}')
        found = [p.message for p in problems_of(path, Registry())]
        assert found == [
            "unknown source type 'csv'; installed source types: none",
            "unknown sink type 'x'; installed sink types: none",
        ]

    def test_matcher_with_a_sink_that_looks_up(self, tmp_path: Path, registry: Registry) -> None:
        path = write(
            tmp_path,
            "f.toml",
            """\
            [flows.f]
            source = { type = "csv", path = "a.csv" }
            sink = { type = "sql_table", table = "people" }
            matchers = [{ type = "key_cascade", keys = ["email"] }]
            """,
        )
        loaded = load_config(path, registry)
        assert loaded.flows["f"].matchers[0].options.model_dump() == {
            "keys": ["email"],
            "on_many": "reject",
        }

    def test_system_component_without_connection_lists_candidates(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        path = write(
            tmp_path,
            "f.toml",
            """\
            [connections.news]
            system = "mail"
            api_key = "k"

            [connections.donors]
            system = "mail"
            api_key = "k"

            [flows.f]
            source = { type = "csv", path = "a.csv" }

            [flows.f.sink]
            type = "mail_members"
            list_id = "x"
            """,
        )
        problem = only_problem(path, registry)
        assert (problem.line, problem.path) == (12, "flows.f.sink")
        assert problem.message == (
            "sink type 'mail_members' needs a connection of system 'mail'; "
            "mail connections: donors, news"
        )

    def test_components_without_system_may_name_a_connection(
        self, tmp_path: Path, registry: Registry
    ) -> None:
        path = write(
            tmp_path,
            "f.toml",
            """\
            [connections.news]
            system = "mail"
            api_key = "k"

            [flows.f]
            source = { type = "csv", path = "a.csv", connection = "news" }
            sink = { type = "csv", path = "b.csv" }
            """,
        )
        loaded = load_config(path, registry)
        assert loaded.flows["f"].source.connection is loaded.connections["news"]
