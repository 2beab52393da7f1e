"""The two sides of ``syncframe align``: which flows pair, reading each side in full through
its flow's source, and writing the chosen resolution through a flow's sink.

Everything goes through the core engine's components (``Engine.build_source``,
``Engine.build_sink``, ``Engine.mapping_of``), so the connections, settings, HTTP limits and
field mappings are the flows' own. Nothing here reads or moves a flow's cursor or writes to the
state store: the alignment happens before the flows are switched on, outside them.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Final

import anyio
from pydantic import SecretBytes, SecretStr

from syncframe.builtins.matchers import KeyCascadeMatcher, KeyCascadeOptions
from syncframe.components import BatchResult, Outcome, PermanentError, Sink, WritePlan
from syncframe.config.models import RetryConfig
from syncframe.config.resolved import LoadedConfig, ResolvedComponent, ResolvedFlow
from syncframe.engine import Engine
from syncframe.mapping import FieldMapping, MappingError
from syncframe.records import Change, Operation
from syncframe.retry import call_with_retries, is_transient, wait_for
from syncframe.webhooks import WebhookSource
from syncframe_smartsync.align_compare import (
    Comparison,
    PairingKey,
    ReportRow,
    RowKind,
    SideRecord,
    compare_sides,
    field_universe,
    same_value,
)

__all__ = [
    "AlignFailed",
    "AlignFlows",
    "AlignNotPossible",
    "Alignment",
    "ApplyResult",
    "Resolution",
    "SecretMask",
    "align_flows",
    "apply_resolution",
    "compare_flows",
]

Sleep = Callable[[float], Awaitable[None]]

#: Source options that limit a read to changes after a time: cleared, since align reads all.
_TIME_LIMITS: Final = ("since",)


class AlignNotPossible(Exception):
    """The flows named cannot be aligned (a user error: the message says why and what to do)."""


class AlignFailed(Exception):
    """A side could not be read (retries used up, credentials refused...): nothing was written."""


class Resolution(StrEnum):
    """Which side wins: ``source`` (A, FLOW's source) or ``target`` (B, FLOW's sink)."""

    SOURCE = "source"
    TARGET = "target"


@dataclass(frozen=True, slots=True)
class AlignFlows:
    """Two flows that pair: ``flow`` A -> B and ``back`` B -> A, with the pairing keys."""

    flow: str
    back: str
    a: str  # the connection FLOW reads and BACK writes
    b: str  # the connection FLOW writes and BACK reads
    keys: tuple[PairingKey, ...]
    ignored_since: tuple[str, ...]  # "flow: since = ..." of sources whose since was cleared


def _connection_of(component: ResolvedComponent) -> str:
    return component.connection_name


def _describe(component: ResolvedComponent) -> str:
    system = component.connection.system.name if component.connection else None
    name = component.connection_name
    return f"connection {name!r} ({system})" if system else f"{component.component.name!r}"


def align_flows(engine: Engine, flow: str, back: str) -> AlignFlows:
    """Check that ``flow`` (A -> B) and ``back`` (B -> A) pair, and take the pairing keys
    from ``flow``'s ``key_cascade`` matchers.

    Both sources must poll (a webhook source reads only what was pushed to it). A source's
    ``since`` option (where a flow's first run starts) is cleared in this engine's loaded
    configuration, since an alignment reads every record; ``ignored_since`` says which.
    Raises :class:`AlignNotPossible` with what to change.
    """
    flows = engine.config.flows
    for name, what in ((flow, "FLOW"), (back, "--back")):
        if name not in flows:
            known = ", ".join(flows) or "none"
            raise AlignNotPossible(
                f"{engine.config.path}: no flow named {name!r} ({what}); flows: {known}"
            )
    if flow == back:
        raise AlignNotPossible(
            f"--back names {flow!r} again: it must be the flow going the other way (B -> A)"
        )
    forth, returning = flows[flow], flows[back]
    a, b = _connection_of(forth.source), _connection_of(forth.sink)
    if _connection_of(returning.source) != b or _connection_of(returning.sink) != a:
        raise AlignNotPossible(
            f"flows {flow!r} and {back!r} do not pair: {flow!r} reads "
            f"{_describe(forth.source)} and writes {_describe(forth.sink)}, but {back!r} reads "
            f"{_describe(returning.source)} and writes {_describe(returning.sink)}; --back "
            f"must read what {flow!r} writes ({b!r}) and write what it reads ({a!r})"
        )
    for resolved in (forth, returning):
        if issubclass(resolved.source.component.cls, WebhookSource):
            raise AlignNotPossible(
                f"flow {resolved.name!r} reads {resolved.source.component.name!r}, which takes "
                "webhooks: align reads every record through a polling source; name a flow "
                "whose source polls (e.g. mailchimp_members)"
            )
    keys = _pairing_keys(forth)
    ignored = tuple(
        text for text in (_clear_since(forth), _clear_since(returning)) if text is not None
    )
    return AlignFlows(flow, back, a, b, keys, ignored)


def _pairing_keys(flow: ResolvedFlow) -> tuple[PairingKey, ...]:
    keys: list[PairingKey] = []
    for matcher in flow.matchers:
        if issubclass(matcher.component.cls, KeyCascadeMatcher):
            options = matcher.options
            assert isinstance(options, KeyCascadeOptions)
            keys += [PairingKey(k.source, k.target, k.normalize) for k in options.keys]
    if not keys:
        raise AlignNotPossible(
            f"flow {flow.name!r} has no key_cascade matcher: align pairs records by its keys "
            '(e.g. keys = ["constituent_id", { source = "email", target = "email", '
            'normalize = "lower" }])'
        )
    # The same key twice finds nothing new the second time.
    return tuple(dict.fromkeys(keys))


def _clear_since(flow: ResolvedFlow) -> str | None:
    options = flow.source.options
    for name in _TIME_LIMITS:
        if name in type(options).model_fields and getattr(options, name) is not None:
            was = getattr(options, name)
            flow.source = replace(flow.source, options=options.model_copy(update={name: None}))
            return f"{flow.name}: {name} = {was}"
    return None


# ---- secrets ------------------------------------------------------------------------------------


class SecretMask:
    """Replaces the values of every secret setting of a flow file's connections with ``***``."""

    def __init__(self, config: LoadedConfig) -> None:
        found: set[str] = set()
        for connection in config.connections.values():
            for value in connection.settings.model_dump().values():
                if isinstance(value, SecretStr | SecretBytes):
                    secret = value.get_secret_value()
                    text = secret.decode(errors="replace") if isinstance(secret, bytes) else secret
                    if text:
                        found.add(text)
        # Longest first, so a secret containing another is masked whole.
        self.values = sorted(found, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self.values:
            text = text.replace(value, "***")
        return text


# ---- reading and comparing ----------------------------------------------------------------------


@dataclass(slots=True)
class Alignment:
    """Both sides read and compared."""

    flows: AlignFlows
    comparison: Comparison
    a_records: int
    b_records: int
    #: A records ``flow``'s mapping refused (they cannot be compared): kind ``rejected``.
    refused: list[ReportRow] = field(default_factory=list)
    #: Field names of A's records as read (before mapping), for writing B's values into A.
    a_fields: list[str] = field(default_factory=list)


def _retry_of(component: ResolvedComponent) -> RetryConfig:
    return component.connection.config.retry if component.connection else RetryConfig()


async def _read_all(engine: Engine, flow: str, sleep: Sleep) -> list[Change]:
    """Every record ``flow``'s source holds now: a full read (no cursor), each record once (a
    record read twice, say changed while the read paged, counts as last read; one deleted
    meanwhile is left out). Transient errors are retried with the connection's policy, going
    on from the last batch read."""
    resolved = engine.config.flows[flow]
    policy = _retry_of(resolved.source)
    batch_size = resolved.config.batch_size
    latest: dict[str, Change] = {}
    cursor: Any = None
    failures = 0
    async with AsyncExitStack() as stack:
        source = engine.build_source(flow, stack)
        while True:
            try:
                async for batch in source.read(cursor, batch_size):
                    for change in batch.changes:
                        if change.operation is Operation.DELETE:
                            latest.pop(change.key, None)
                        else:
                            latest[change.key] = change
                    cursor = batch.cursor
                    failures = 0
                return list(latest.values())
            except Exception as exc:
                what = f"reading {resolved.source.component.name!r} of flow {flow!r}"
                if not is_transient(exc):
                    raise AlignFailed(f"{what}: {_message(exc)}") from exc
                failures += 1
                if failures >= policy.attempts:
                    raise AlignFailed(
                        f"{what}: still failing after {failures} tries: {_message(exc)}"
                    ) from exc
                await sleep(wait_for(policy, failures, exc))


def _message(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, PermanentError):
        return text
    return f"{type(exc).__name__}: {text}" if str(exc) else text


async def compare_flows(
    engine: Engine,
    flows: AlignFlows,
    *,
    fields: Sequence[str] | None = None,
    sleep: Sleep = anyio.sleep,
) -> Alignment:
    """Read A (``flows.flow``'s source) and B (``flows.back``'s source) at the same time, map
    A with ``flows.flow``'s mapping, pair and compare (on ``fields`` if given).

    Raises :class:`AlignFailed` when a side cannot be read and :class:`AlignNotPossible` for a
    name in ``fields`` that no record of either side holds.
    """
    read: dict[str, list[Change]] = {}
    errors: list[Exception] = []

    async def read_side(name: str) -> None:
        try:
            read[name] = await _read_all(engine, name, sleep)
        except Exception as exc:
            errors.append(exc)
            group.cancel_scope.cancel()

    async with anyio.create_task_group() as group:
        group.start_soon(read_side, flows.flow)
        group.start_soon(read_side, flows.back)
    if errors:
        raise errors[0]
    mapping = engine.mapping_of(flows.flow)
    a_side: list[SideRecord] = []
    refused: list[ReportRow] = []
    for change in read[flows.flow]:
        try:
            mapped = mapping.apply(change)
        except MappingError as exc:
            refused.append(
                ReportRow(
                    RowKind.REJECTED,
                    a_key=change.key,
                    reason=f"flow {flows.flow!r}'s mapping refused it, so it was not compared: "
                    f"{exc}",
                )
            )
            continue
        # The change's own dict: nothing changes it, and a copy would double the memory.
        a_side.append(SideRecord(change.key, change, mapped.fields))
    b_side = [SideRecord(c.key, c, c.fields) for c in read[flows.back]]
    if fields is not None:
        known = set(field_universe(a_side)) | set(field_universe(b_side))
        unknown = [name for name in fields if name not in known]
        if unknown:
            raise AlignNotPossible(
                f"--fields: no record of either side has {', '.join(map(repr, unknown))}; "
                f"fields read: {', '.join(sorted(known)) or 'none'}"
            )
    comparison = compare_sides(a_side, b_side, flows.keys, fields)
    a_fields: dict[str, None] = {}
    for change in read[flows.flow]:
        a_fields.update(dict.fromkeys(change.fields))
    return Alignment(
        flows,
        comparison,
        len(read[flows.flow]),
        len(read[flows.back]),
        refused,
        list(a_fields),
    )


# ---- applying a resolution ----------------------------------------------------------------------


@dataclass(slots=True)
class _Write:
    """One record on its way to the losing side: the change, the record it updates (``None``:
    create), and both keys for the report."""

    change: Change
    target: str | None
    a_key: str
    b_key: str


@dataclass(slots=True)
class ApplyResult:
    """What applying a resolution did: outcome counts, and a row per record rejected or failed."""

    resolution: Resolution
    flow: str  # the flow whose sink wrote
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[ReportRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _names_in_a(mapping: FieldMapping, names: Sequence[str]) -> set[str]:
    """What B's fields ``names`` are called in A, by the back flow's mapping: a field copied
    from one of them (``from``), and the names themselves when fields pass through."""
    config = mapping.config
    if config is None:
        return set(names)
    found = set(names) if config.unmapped == "keep" else set()
    for target, rule in config.fields.items():
        source = rule if isinstance(rule, str) else rule.from_
        if source in names:
            found.add(target)
    return found


def _writes_for(
    engine: Engine,
    alignment: Alignment,
    resolution: Resolution,
    fields: Sequence[str] | None,
    result: ApplyResult,
) -> list[_Write]:
    """The writes the resolution needs; what cannot be written (a mapping refuses it) goes
    straight into ``result``."""
    comparison = alignment.comparison
    writes: list[_Write] = []
    if resolution is Resolution.SOURCE:
        for pair in comparison.differing:
            values = {d.field: pair.a.fields.get(d.field) for d in pair.differences}
            change = pair.a.change.replace(fields=values, operation=Operation.UPDATE)
            writes.append(_Write(change, pair.b.key, pair.a.key, pair.b.key))
        for unpaired in comparison.only_in_a:
            record = unpaired.record
            change = record.change.replace(fields=dict(record.fields), operation=Operation.INSERT)
            writes.append(_Write(change, None, record.key, ""))
        return writes
    mapping = engine.mapping_of(alignment.flows.back)
    allowed = set(alignment.a_fields)
    if fields is not None:
        allowed &= _names_in_a(mapping, fields)
    normalize_of = {k.a_field: k.normalize for k in alignment.flows.keys if k.a_field == k.b_field}

    def refused(a_key: str, b_key: str, exc: MappingError) -> None:
        result.counts[Outcome.REJECTED.value] += 1
        result.problems.append(
            ReportRow(
                RowKind.REJECTED,
                a_key,
                b_key,
                reason=f"flow {alignment.flows.back!r}'s mapping refused it: {exc}",
            )
        )

    for pair in comparison.differing:
        try:
            desired = mapping.apply(pair.b.change)
        except MappingError as exc:
            refused(pair.a.key, pair.b.key, exc)
            continue
        held = pair.a.change.fields
        values = {
            name: value
            for name, value in desired.fields.items()
            if name in allowed
            and not same_value(name, value, held.get(name), normalize_of.get(name, "none"))
        }
        if not values:
            # The difference does not survive the way back (a field A's side never holds).
            result.counts[Outcome.UNCHANGED.value] += 1
            continue
        change = desired.replace(fields=values, operation=Operation.UPDATE)
        writes.append(_Write(change, pair.a.key, pair.a.key, pair.b.key))
    for unpaired in comparison.only_in_b:
        record = unpaired.record
        try:
            desired = mapping.apply(record.change)
        except MappingError as exc:
            refused("", record.key, exc)
            continue
        writes.append(_Write(desired.replace(operation=Operation.INSERT), None, "", record.key))
    return writes


async def apply_resolution(
    engine: Engine,
    alignment: Alignment,
    resolution: Resolution,
    *,
    fields: Sequence[str] | None = None,
    sleep: Sleep = anyio.sleep,
) -> ApplyResult:
    """Make the losing side hold the winner's values.

    ``source`` (A wins): each differing pair's differing fields go to B through
    ``flows.flow``'s sink, targeted at the paired B record; records only in A are created in
    B. ``target`` (B wins): each differing pair's B record, mapped by ``flows.back``'s mapping,
    goes to A through ``flows.back``'s sink with the fields that differ from the A record
    (within ``fields``), targeted at it; records only in B are created in A. Nothing is
    deleted; ambiguous records are left alone. Writes are retried on transient errors with the
    sink connection's policy; a permanent error makes each record of the batch be written
    alone, so only the culprits fail.
    """
    flows = alignment.flows
    flow = flows.flow if resolution is Resolution.SOURCE else flows.back
    result = ApplyResult(resolution, flow)
    writes = _writes_for(engine, alignment, resolution, fields, result)
    if not writes:
        return result
    resolved = engine.config.flows[flow]
    policy = _retry_of(resolved.sink)
    batch_size = resolved.config.batch_size
    token = f"align:{flow}:{secrets.token_hex(4)}"
    outcomes: list[tuple[Outcome, str | None]] = []
    async with AsyncExitStack() as stack:
        sink = engine.build_sink(flow, stack)
        try:
            await call_with_retries(policy, lambda: sink.open(None), sleep=sleep)
        except Exception as exc:
            outcomes = [(Outcome.FAILED, f"not written: opening the sink failed: {_message(exc)}")]
            outcomes *= len(writes)
        else:
            stopped: str | None = None
            for seq, start in enumerate(range(0, len(writes), batch_size)):
                chunk = writes[start : start + batch_size]
                if stopped is not None:
                    outcomes += [(Outcome.FAILED, f"not written: {stopped}")] * len(chunk)
                    continue
                plan = WritePlan(f"{token}:{seq}", [w.target for w in chunk], False, None)
                try:
                    written = await _write(sink, [w.change for w in chunk], plan, policy, sleep)
                except Exception as exc:
                    stopped = f"writing stopped after an error: {_message(exc)}"
                    outcomes += [(Outcome.FAILED, stopped)] * len(chunk)
                    continue
                outcomes += [
                    (outcome, written.reasons.get(i)) for i, outcome in enumerate(written.outcomes)
                ]
    for w, (outcome, reason) in zip(writes, outcomes, strict=True):
        result.counts[outcome.value] += 1
        if outcome in (Outcome.REJECTED, Outcome.FAILED):
            kind = RowKind.REJECTED if outcome is Outcome.REJECTED else RowKind.FAILED
            result.problems.append(
                ReportRow(kind, w.a_key, w.b_key, reason=reason or f"{outcome.value} by the sink")
            )
    return result


async def _write(
    sink: Sink[Any], changes: list[Change], plan: WritePlan, policy: RetryConfig, sleep: Sleep
) -> BatchResult:
    """``sink.write`` with retries; on a permanent error each change alone, to find the
    culprits (as the engine does)."""
    try:
        result = await call_with_retries(policy, lambda: sink.write(changes, plan), sleep=sleep)
    except PermanentError as exc:
        if len(changes) == 1:
            return BatchResult([Outcome.FAILED], {0: str(exc)})
        merged = BatchResult([])
        for j, change in enumerate(changes):
            targets = None if plan.targets is None else [plan.targets[j]]
            one = await _write(
                sink, [change], WritePlan(f"{plan.token}.{j}", targets), policy, sleep
            )
            merged.outcomes.append(one.outcomes[0])
            if 0 in one.reasons:
                merged.reasons[j] = one.reasons[0]
        return merged
    if len(result.outcomes) != len(changes):
        raise AlignFailed(
            f"the sink returned {len(result.outcomes)} outcomes for {len(changes)} changes "
            "(a plugin bug)"
        )
    return result
