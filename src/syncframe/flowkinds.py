"""Flow kinds: a plugin's own way of writing a flow, expanded into a core flow before validation.

A flow table with ``kind = "NAME"`` is handed to the flow kind registered as ``NAME``. Its
:meth:`FlowKind.expand` returns a :class:`FlowExpansion`: the core flow table it stands for
(``source``, ``matchers``, ``sink``, ``mapping``, ``schedule``, ...) and, for each part of that
table, where it came from in the operator's table. The loader then checks the core table like any
other flow and reports every problem at the operator's own key and line (``flows.x.steps[2].
connection``, not the generated ``flows.x.sink.connection``). A kind may also name each component
for the flow's step log (``step_log = true``) and keep options of its own that tools read from
:attr:`syncframe.config.ResolvedFlow.kind_options` (a flow id for an API, say).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from syncframe.config.locate import PathKey

__all__ = ["FlowExpansion", "FlowKind", "SubPath"]

#: A path below one flow's table: ``("steps", 2, "connection")``.
SubPath = tuple[PathKey, ...]


@dataclass(slots=True)
class FlowExpansion:
    """What a flow kind made of one flow table.

    ``table`` is a core flow table (without ``kind``). ``origins`` maps a path in ``table`` to
    the path in the operator's table it came from (``("sink",) -> ("steps", 3)``); a problem is
    reported at the longest matching origin, the rest of its path kept, so problems inside a
    component land on the step's own keys when the kind copied them under the same names.
    ``labels`` names components for the step log: ``("source",)``, ``("matchers", 0)``,
    ``("loop_guards", 0)``, ``("filters", 0)``, ``("sink",)``. ``problems`` are the kind's own
    findings as (path in the operator's table, message). ``options`` is whatever the kind wants
    tools to find on the resolved flow.
    """

    table: dict[str, Any]
    origins: dict[SubPath, SubPath] = field(default_factory=dict)
    labels: dict[SubPath, str] = field(default_factory=dict)
    problems: list[tuple[SubPath, str]] = field(default_factory=list)
    options: BaseModel | None = None


class FlowKind(ABC):
    """Turns a flow table of one kind into a core flow table (registered by a plugin)."""

    @abstractmethod
    def expand(
        self, flow: str, table: Mapping[str, Any], document: Mapping[str, Any]
    ) -> FlowExpansion:
        """The core flow ``table`` (flow ``flow``) stands for.

        ``document`` is the whole flow file as read (connections included), for defaults that
        depend on a connection (a polling period, say). Never raise for bad input: report it in
        :attr:`FlowExpansion.problems` and expand what can be expanded.
        """
