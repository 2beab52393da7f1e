"""Every hook syncframe calls, in one place.

Plugins implement these with ``@syncframe.hookimpl`` and are found through the entry-point group
``syncframe``. Hooks are synchronous; what they register may be async (sources, sinks, ...), and
the engine drives that on anyio. The plugin author guide (``docs/hooks.md``) is checked against
this module by a test, so a hook added here must be documented there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import typer

    from syncframe.components import BatchResult
    from syncframe.host import Host
    from syncframe.records import Change
    from syncframe.registry import (
        ComponentRegistrar,
        ConverterRegistrar,
        DemoRegistrar,
        FlowKindRegistrar,
        ServeRouteRegistrar,
        SimulatorRegistrar,
        SystemRegistrar,
    )
    from syncframe.runinfo import RunInfo, RunSummary

PROJECT_NAME = "syncframe"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# --------------------------------------------------------------------------------------------
# Registration: called once per host, when the plugins are loaded, before any config is read.
# Each receives a registrar; the engine owns naming, duplicate detection and validation.


@hookspec
def syncframe_register_systems(register: SystemRegistrar) -> None:
    """Register connection types (systems) this plugin provides.

    Called once when the host loads plugins. Call ``register(name, settings_model,
    description=...)`` for each system; ``settings_model`` is a pydantic-settings ``BaseSettings``
    subclass whose secrets are ``SecretStr``. A connection named ``crm`` in a flow file reads its
    values from the file and then from ``SYNCFRAME_CRM_<FIELD>`` in the environment or ``.env``.
    Registering a name twice is an error naming both plugins. Returns nothing.
    """


@hookspec
def syncframe_register_sources(register: ComponentRegistrar) -> None:
    """Register source types: readers of changes of an entity since a cursor, in batches.

    Called once when the host loads plugins. Call ``register(name, source_class,
    description=...)`` with a subclass of :class:`syncframe.components.Source`; its ``Options``
    model validates the ``[flows.X.source]`` table and its ``system`` names the connection type
    it needs (``None``: none). Returns nothing.
    """


@hookspec
def syncframe_register_sinks(register: ComponentRegistrar) -> None:
    """Register sink types: writers of batches that report an outcome per record.

    Called once when the host loads plugins. Call ``register(name, sink_class,
    description=...)`` with a subclass of :class:`syncframe.components.Sink`. Returns nothing.
    """


@hookspec
def syncframe_register_matchers(register: ComponentRegistrar) -> None:
    """Register matcher types: for each incoming change, match a target record, create or reject.

    Called once when the host loads plugins. Call ``register(name, matcher_class,
    description=...)`` with a subclass of :class:`syncframe.components.Matcher`. A flow lists one
    or more matchers; the first that decides for a change wins. Returns nothing.
    """


@hookspec
def syncframe_register_loop_guards(register: ComponentRegistrar) -> None:
    """Register loop guard types: they decide whether a change may flow at all.

    Called once when the host loads plugins. Call ``register(name, guard_class,
    description=...)`` with a subclass of :class:`syncframe.components.LoopGuard`. Every guard of
    a flow screens every change; any one may block it. Returns nothing.
    """


@hookspec
def syncframe_register_filters(register: ComponentRegistrar) -> None:
    """Register filter types: they keep or drop changes before matching.

    Called once when the host loads plugins. Call ``register(name, filter_class,
    description=...)`` with a subclass of :class:`syncframe.components.Filter`. Returns nothing.
    """


@hookspec
def syncframe_register_converters(register: ConverterRegistrar) -> None:
    """Register value converters that field mappings can apply (``convert = "lower"``).

    Called once when the host loads plugins. Call ``register(name, function,
    description=...)`` where ``function(value) -> value`` raises ``ValueError`` with a message
    for a value it cannot convert (the record is then rejected with that reason). Returns
    nothing.
    """


@hookspec
def syncframe_register_demos(register: DemoRegistrar) -> None:
    """Register steps of ``syncframe demo``, the README's main job.

    Called once when the ``demo`` command starts. Call ``register(name, step, description=...)``
    where ``step(ctx)`` is an async function receiving a :class:`syncframe.demo.DemoContext`
    (work directory, console, clock) that runs real flows and returns a one-line summary of what
    landed. Steps run in registration order. Returns nothing.
    """


@hookspec
def syncframe_register_simulators(register: SimulatorRegistrar) -> None:
    """Register simulators of external systems, for ``syncframe simulate`` and tests.

    Called once when the host loads plugins. Call ``register(name, factory, description=...)``
    where ``factory(clock=..., seed=...)`` returns a fresh simulator (an ASGI app with in-memory
    state, such as a ``syncframe_simulators.Simulator``); ``clock`` is the
    :class:`~syncframe.clock.Clock` it must tell time by and ``seed`` makes its fault injection
    repeatable. The ``syncframe simulate NAME`` command and the simulator pytest fixtures look
    simulators up by ``name``. Returns nothing.
    """


@hookspec
def syncframe_register_flow_kinds(register: FlowKindRegistrar) -> None:
    """Register flow kinds: a plugin's own way of writing a flow in a flow file.

    Called once when the host loads plugins. Call ``register(name, kind, description=...)``
    where ``kind`` is a :class:`syncframe.flowkinds.FlowKind` instance. A flow table with
    ``kind = "NAME"`` is passed to ``kind.expand(flow, table, document)`` before the file is
    checked; it returns the core flow table it stands for and where each part came from, so
    problems are reported at the operator's own keys. Returns nothing.
    """


@hookspec
def syncframe_register_serve_routes(register: ServeRouteRegistrar) -> None:
    """Register HTTP routes that ``syncframe serve`` adds to its app (an inbound API, say).

    Called once when the host loads plugins. Call ``register(name, factory, description=...)``
    where ``factory(service)`` receives the running :class:`syncframe.serve.FlowService` (its
    ``engine``, ``run(flow)`` and ``deliver(flow, delivery)``) and returns a list of Starlette
    routes, or an empty list when the flow file does not configure the plugin's part (serve
    refuses a file with no webhook flow, no scheduled flow and no plugin route); it is called
    each time serve builds its app. Paths under ``/webhooks/`` and ``/health`` are serve's own.
    Returns nothing.
    """


@hookspec
def syncframe_register_commands(app: typer.Typer, host: Host) -> None:
    """Add sub-commands to the ``syncframe`` command line.

    Called once when the CLI is built, with the root Typer application and the plugin
    :class:`~syncframe.host.Host` the command line runs with (use its ``registry`` inside the
    command, not at registration, so that loading stays lazy); add commands or groups with
    ``app.command()`` / ``app.add_typer()``. An implementation may leave ``host`` out of its
    parameters. Returns nothing.
    """


# --------------------------------------------------------------------------------------------
# Run lifecycle: observers, called by the runner; their results are ignored and an exception in
# one is logged, not raised, so an observer cannot break a sync.


@hookspec
def syncframe_run_started(run: RunInfo) -> None:
    """Called when a run of a flow starts, after its components are built and before reading.

    ``run`` carries the run id, flow name, whether it is a dry run and the start time.
    Returns nothing.
    """


@hookspec
def syncframe_batch_committed(run: RunInfo, changes: Sequence[Change], result: BatchResult) -> None:
    """Called after each batch is committed, with the per-record outcomes.

    ``changes`` are the batch's changes as read from the source and ``result.outcomes[i]`` (with
    ``result.reasons.get(i)``) what became of ``changes[i]``: written, unchanged, filtered,
    blocked, rejected or failed. Called once per batch rather than per record, so observers cost
    nothing per record when they do nothing. In a dry run it is called with what would have
    happened. Returns nothing.
    """


@hookspec
def syncframe_run_finished(run: RunInfo, summary: RunSummary) -> None:
    """Called when a run ends, whether it succeeded, failed or was interrupted.

    ``summary`` carries the status, outcome counts, batches, duration and the error message of a
    failed run. Returns nothing.
    """
