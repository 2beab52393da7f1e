"""SmartSYNC-style flows made of steps: the ``smartsync`` flow kind.

A flow file table with ``kind = "smartsync"`` lists its ``steps`` in order: one **event** step
(what starts a run: polling a connection for changed records, a webhook, or the real-time API),
any number of **search** steps (find the counterpart record: by a binding key such as the RE
constituent id kept in a Mailchimp merge field, then by email; optionally within a list), and one
**action** step (create or update, update only, create only, set consent, or skip) with its field
mappings. :class:`SmartsyncFlowKind` expands them into the core flow they stand for:

* event step -> the flow's ``source``; a polling step also sets the flow's ``schedule`` from the
  connection's ``poll_every`` (5 minutes for most systems, 30 minutes for Raiser's Edge NXT);
* search steps -> ``key_cascade`` matchers, one per step, each leaving what it did not find to the
  next; the last one decides what a change nobody matched becomes (from the action);
* action step -> the flow's ``sink`` and ``mapping``;
* loop protection -> a ``one_way_window`` loop guard (1 hour, per record, by default).

Every run keeps each record's step log (``step_log``): ``syncframe runs show FILE RUN --steps``.
Problems are reported at the operator's own keys (``flows.x.steps[2].connection``). See
``docs/smartsync.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from syncframe.components import MatchAction, MatchDecision, Matcher, NoOptions, TargetLookup
from syncframe.config.models import parse_duration
from syncframe.flowkinds import FlowExpansion, FlowKind, SubPath
from syncframe.records import Change
from syncframe_smartsync.mailchimp_settings import MailchimpSettings
from syncframe_smartsync.re_nxt_settings import ReNxtSettings
from syncframe_smartsync.salesforce_settings import SalesforceSettings

__all__ = [
    "API_SOURCE",
    "DEFAULT_POLL_EVERY",
    "KIND",
    "SKIP_ACTION",
    "LoopProtection",
    "SkipAction",
    "SmartsyncFlowKind",
    "SmartsyncFlowOptions",
]

#: The flow kind's name: ``kind = "smartsync"``.
KIND: Final = "smartsync"
#: The source of an event step triggered by the real-time API.
API_SOURCE: Final = "smartsync_api"
#: The matcher a ``skip`` action step becomes.
SKIP_ACTION: Final = "smartsync_skip"
#: How often a polling event step runs when neither the step nor its connection says.
DEFAULT_POLL_EVERY: Final = timedelta(minutes=5)

# The polling period each of this plugin's systems defaults to (its settings' poll_every).
_POLL_DEFAULTS: Final[dict[str, timedelta]] = {
    "re_nxt": ReNxtSettings.model_fields["poll_every"].default,
    "mailchimp": MailchimpSettings.model_fields["poll_every"].default,
    "salesforce": SalesforceSettings.model_fields["poll_every"].default,
}
# Core flow keys a smartsync flow may set directly.
_FLOW_KEYS: Final = ("description", "enabled", "batch_size", "history", "max_failed_share")
_STEP_KEYS: Final = ("step", "name")
_EVENT_KEYS: Final = ("trigger", "every")
_SEARCH_KEYS: Final = ("by", "field", "normalize", "within_list", "if_not_found")
_ACTION_KEYS: Final = ("action", "fields", "unmapped")
# What a change no search step matched becomes, per action.
_NOT_FOUND: Final[dict[str, str]] = {
    "create_or_update": "create",
    "create": "create",
    "update": "skip",
    "set_consent": "skip",
    "skip": "skip",
}
# The fields a set_consent action writes (besides the search steps' keys).
_CONSENT_FIELDS: Final = ("email_status",)

Action = Literal["create_or_update", "update", "create", "set_consent", "skip"]


class LoopProtection(BaseModel):
    """One-way loop protection of a flow (the ``one_way_window`` loop guard's options)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="false: no loop protection (not recommended).")
    window: timedelta = Field(
        timedelta(hours=1),
        description="How long after a change flowed into a record changes of that record do "
        "not flow back (the window restarts with every change).",
    )
    scope: Literal["record", "system"] = Field(
        "record",
        description="record: hold back the records this flow's counterpart wrote; system: "
        "hold back every change of the source system while any write is that recent.",
    )

    @field_validator("window", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)


class SmartsyncFlowOptions(BaseModel):
    """The flow-level keys of a ``kind = "smartsync"`` flow that are not core flow keys."""

    model_config = ConfigDict(extra="forbid")

    flow_id: int | None = Field(
        None,
        ge=1,
        description="The numeric Flow ID the real-time API runs the flow by (unique per file).",
    )
    loop_protection: LoopProtection = Field(default_factory=LoopProtection)


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trigger: Literal["poll", "webhook", "api"] = "poll"
    every: timedelta | None = None

    @field_validator("every", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta | None:
        return None if value is None else parse_duration(value)


class _Search(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(min_length=1)
    field: str | None = Field(None, min_length=1)
    normalize: Literal["none", "strip", "lower", "digits"] = "none"
    within_list: str | None = Field(None, min_length=1)
    if_not_found: Literal["next", "create", "skip", "reject"] | None = None


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Action = "create_or_update"
    fields: dict[str, Any] | None = None
    unmapped: Literal["drop", "keep"] | None = None


def _problems_of(exc: ValidationError, at: SubPath) -> list[tuple[SubPath, str]]:
    found: list[tuple[SubPath, str]] = []
    for error in exc.errors():
        where = tuple(p for p in error["loc"] if isinstance(p, str | int))
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        found.append(((*at, *where), message))
    return found


class SmartsyncFlowKind(FlowKind):
    """SmartSYNC-style flows: an event step, search steps and an action step."""

    def expand(
        self, flow: str, table: Mapping[str, Any], document: Mapping[str, Any]
    ) -> FlowExpansion:
        expansion = FlowExpansion(table={"step_log": True})
        core = expansion.table
        problems = expansion.problems
        own = {k: v for k, v in table.items() if k not in (*_FLOW_KEYS, "steps")}
        try:
            options = SmartsyncFlowOptions.model_validate(own)
        except ValidationError as exc:
            problems.extend(_problems_of(exc, ()))
            options = SmartsyncFlowOptions()
        expansion.options = options
        for key in _FLOW_KEYS:
            if key in table:
                core[key] = table[key]
                expansion.origins[(key,)] = (key,)

        steps = table.get("steps")
        if not isinstance(steps, list) or not steps:
            problems.append(
                (
                    (),
                    "a smartsync flow needs [[steps]]: one event step, search steps, "
                    "one action step",
                )
            )
            return expansion
        events: list[int] = []
        searches: list[int] = []
        actions: list[int] = []
        for i, step in enumerate(steps):
            kind = step.get("step") if isinstance(step, dict) else None
            bucket = {"event": events, "search": searches, "action": actions}.get(str(kind))
            if bucket is None:
                problems.append(
                    (
                        ("steps", i, "step"),
                        f"unknown step {kind!r}: a step is 'event', 'search' or 'action'",
                    )
                )
                continue
            bucket.append(i)
        for what, found in (("event", events), ("action", actions)):
            if len(found) != 1:
                problems.append(
                    (
                        ("steps",),
                        f"a smartsync flow has exactly one {what} step ({len(found)} given)",
                    )
                )
        order = events + searches + actions
        if [i for i in range(len(steps)) if i in order] != order:
            problems.append((("steps",), "steps go in order: the event, the searches, the action"))
        if len(events) != 1 or len(actions) != 1:
            return expansion

        connections = document.get("connections")
        connections = connections if isinstance(connections, dict) else {}
        action = self._action(expansion, steps, actions[0])
        self._event(expansion, steps, events[0], connections)
        self._searches(expansion, steps, searches, action, actions[0])
        self._loop_protection(expansion, options, core.get("sink"))
        return expansion

    # ---- steps -------------------------------------------------------------------------------
    def _label(self, step: Mapping[str, Any], i: int) -> str:
        name = step.get("name")
        return str(name) if name else f"{step.get('step')} {i + 1}"

    def _component(
        self, step: Mapping[str, Any], own_keys: tuple[str, ...]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the step's own keys, the component table: type, connection and options)."""
        mine = {k: v for k, v in step.items() if k in own_keys}
        component = {k: v for k, v in step.items() if k not in own_keys and k not in _STEP_KEYS}
        return mine, component

    def _event(
        self,
        expansion: FlowExpansion,
        steps: list[Any],
        i: int,
        connections: Mapping[str, Any],
    ) -> None:
        step = steps[i]
        mine, source = self._component(step, _EVENT_KEYS)
        try:
            event = _Event.model_validate(mine)
        except ValidationError as exc:
            expansion.problems.extend(_problems_of(exc, ("steps", i)))
            return
        if event.trigger == "api":
            source.setdefault("type", API_SOURCE)
        elif "type" not in source:
            expansion.problems.append(
                (
                    ("steps", i),
                    f"a {event.trigger} event step names its source: type = "
                    "'re_nxt_constituents', 'mailchimp_members', 'mailchimp_webhook', ...",
                )
            )
        expansion.table["source"] = source
        expansion.origins[("source",)] = ("steps", i)
        expansion.labels[("source",)] = self._label(step, i)
        every = event.every
        if event.trigger == "poll" and every is None:
            every = self._poll_every(source.get("connection"), connections)
        if every is not None:
            expansion.table["schedule"] = {"every": f"{int(every.total_seconds())}s"}
            expansion.origins[("schedule",)] = ("steps", i)

    def _poll_every(self, connection: Any, connections: Mapping[str, Any]) -> timedelta:
        """The connection's ``poll_every``, else its system's default, else 5 minutes."""
        table = connections.get(connection) if isinstance(connection, str) else None
        if not isinstance(table, dict):
            return DEFAULT_POLL_EVERY
        given = table.get("poll_every")
        if given is not None:
            try:
                return parse_duration(given)
            except ValueError:
                return DEFAULT_POLL_EVERY  # the connection's own check reports it
        return _POLL_DEFAULTS.get(str(table.get("system")), DEFAULT_POLL_EVERY)

    def _action(self, expansion: FlowExpansion, steps: list[Any], i: int) -> _Action | None:
        step = steps[i]
        mine, sink = self._component(step, _ACTION_KEYS)
        try:
            action = _Action.model_validate(mine)
        except ValidationError as exc:
            expansion.problems.extend(_problems_of(exc, ("steps", i)))
            return None
        if "type" not in sink:
            expansion.problems.append(
                (
                    ("steps", i),
                    "an action step names its target: type = 're_nxt_constituents', "
                    "'mailchimp_members', 'salesforce_contacts', ...",
                )
            )
        expansion.table["sink"] = sink
        expansion.origins[("sink",)] = ("steps", i)
        expansion.labels[("sink",)] = self._label(step, i)
        if action.fields is not None:
            mapping: dict[str, Any] = {"fields": action.fields}
            if action.unmapped is not None:
                mapping["unmapped"] = action.unmapped
            expansion.table["mapping"] = mapping
            expansion.origins[("mapping",)] = ("steps", i)
        return action

    def _searches(
        self,
        expansion: FlowExpansion,
        steps: list[Any],
        found: list[int],
        action: _Action | None,
        action_at: int,
    ) -> None:
        verb = action.action if action is not None else "create_or_update"
        last_default = _NOT_FOUND[verb]
        matchers: list[dict[str, Any]] = []
        keys: list[str] = []
        lists: dict[str, int] = {}
        for n, i in enumerate(found):
            step = steps[i]
            mine, rest = self._component(step, _SEARCH_KEYS)
            if rest:
                unknown = ", ".join(sorted(rest))
                expansion.problems.append(
                    (("steps", i, next(iter(rest))), f"unknown key(s) of a search step: {unknown}")
                )
            try:
                search = _Search.model_validate(mine)
            except ValidationError as exc:
                expansion.problems.extend(_problems_of(exc, ("steps", i)))
                continue
            last = n == len(found) - 1
            on_no_match = search.if_not_found or (last_default if last else "next")
            if on_no_match == "create" and verb in ("update", "set_consent", "skip"):
                expansion.problems.append(
                    (
                        ("steps", i, "if_not_found"),
                        f"the action is {verb!r}, which never creates records",
                    )
                )
            if search.within_list is not None:
                lists[search.within_list] = i
            at = ("matchers", len(matchers))
            matchers.append(
                {
                    "type": "key_cascade",
                    "keys": [
                        {
                            "source": search.by,
                            "target": search.field or search.by,
                            "normalize": search.normalize,
                        }
                    ],
                    "on_no_match": on_no_match,
                }
            )
            keys.append(search.by)
            expansion.origins[at] = ("steps", i)
            expansion.labels[at] = self._label(step, i)
        if verb == "create":
            # Create only: a change whose counterpart exists is left alone.
            for matcher in matchers:
                matcher["on_match"] = "skip"
        if verb == "skip":
            at = ("matchers", len(matchers))
            matchers.append({"type": SKIP_ACTION})
            expansion.origins[at] = ("steps", action_at)
            expansion.labels[at] = self._label(steps[action_at], action_at)
        if matchers:
            expansion.table["matchers"] = matchers
        self._restrict_to_list(expansion, lists)
        if verb == "set_consent" and action is not None and action.fields is None:
            wanted = dict.fromkeys([*keys, *_CONSENT_FIELDS])
            expansion.table["mapping"] = {"fields": {f: f for f in wanted}}

    def _restrict_to_list(self, expansion: FlowExpansion, lists: dict[str, int]) -> None:
        if not lists:
            return
        if len(lists) > 1:
            where = lists[sorted(lists)[1]]
            expansion.problems.append(
                (
                    ("steps", where, "within_list"),
                    "the search steps of one flow search within one list: "
                    + ", ".join(sorted(lists))
                    + " given",
                )
            )
            return
        sink = expansion.table.get("sink")
        if isinstance(sink, dict):
            name = next(iter(lists))
            given = sink.get("list_id")
            if given is not None and given != name:
                expansion.problems.append(
                    (
                        ("steps", lists[name], "within_list"),
                        f"the action's list_id is {given!r}, the search's within_list {name!r}",
                    )
                )
            sink["list_id"] = name

    def _loop_protection(
        self, expansion: FlowExpansion, options: SmartsyncFlowOptions, sink: Any
    ) -> None:
        guard = options.loop_protection
        if not guard.enabled:
            return
        table: dict[str, Any] = {
            "type": "one_way_window",
            "window": f"{int(guard.window.total_seconds())}s",
            "scope": guard.scope,
        }
        # Changes are held back only after writes from the flow's counterpart (its target).
        connection = sink.get("connection") if isinstance(sink, dict) else None
        if connection:
            table["other_system"] = connection
        expansion.table["loop_guards"] = [table]
        expansion.origins[("loop_guards", 0)] = ("loop_protection",)
        expansion.labels[("loop_guards", 0)] = "loop protection"


class SkipAction(Matcher[NoOptions]):
    """The ``skip`` action step: every change that reaches it is logged and left alone."""

    Options: ClassVar[type[BaseModel]] = NoOptions

    async def decide(
        self, changes: Sequence[Change], target: TargetLookup | None
    ) -> list[MatchDecision | None]:
        return [
            MatchDecision(MatchAction.SKIP, "the flow's action is skip: nothing is written")
            for _ in changes
        ]
