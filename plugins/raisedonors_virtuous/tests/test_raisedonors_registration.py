"""The plugin's entry point registers the raisedonors side: its system, source, sink and filter,
with the options the flow file's tables are validated against."""

from __future__ import annotations

from syncframe_raisedonors_virtuous import plugin
from syncframe_raisedonors_virtuous.raisedonors_activity import (
    ActivitySource,
    EditChannelsFilter,
    EditChannelsOptions,
)
from syncframe_raisedonors_virtuous.raisedonors_donors import DonorSink, DonorSinkOptions
from syncframe_raisedonors_virtuous.raisedonors_settings import RaiseDonorsSettings

from syncframe.components import NoOptions
from syncframe.host import Host


def test_the_plugin_registers_the_raisedonors_side() -> None:
    registry = Host(plugins=[plugin], entry_points=False).registry

    assert registry.systems["raisedonors"].settings is RaiseDonorsSettings
    assert registry.sources["raisedonors_activity"].cls is ActivitySource
    assert registry.sinks["raisedonors_donors"].cls is DonorSink
    assert registry.filters["raisedonors_edit_channels"].cls is EditChannelsFilter
    assert ActivitySource.Options is NoOptions
    assert DonorSink.Options is DonorSinkOptions
    assert EditChannelsFilter.Options is EditChannelsOptions
    assert ActivitySource.system == DonorSink.system == "raisedonors"
    assert registry.sinks["raisedonors_donors"].description.startswith("Creates and updates")


def test_option_defaults_are_the_seeds_rules() -> None:
    assert EditChannelsOptions().channels == ["admin_portal", "donor_portal"]
    sink = DonorSinkOptions()
    assert (sink.entity, sink.create_missing, sink.concurrency) == ("donor", True, 4)
