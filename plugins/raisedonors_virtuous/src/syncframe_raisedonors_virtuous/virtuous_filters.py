"""The rule of the Virtuous CRM+ -> Legacy RaiseDonors direction: only contacts RaiseDonors sent
sync back to it (filter ``virtuous_reference_source``).

Every contact RaiseDonors sends through the import tool carries ReferenceSource "Legacy
RaiseDonors" and its donor id as ReferenceId; an organization's other contacts (most of them,
in the seed's example a million contacts of which 200,000 are digital donors) never reach
RaiseDonors. A dropped change is ``filtered`` with the reason, in run history.
"""

from __future__ import annotations

from syncframe.components import Filter, NoOptions
from syncframe.records import Change
from syncframe_raisedonors_virtuous.virtuous_models import RAISEDONORS_REFERENCE_SOURCE

__all__ = ["ReferenceSourceFilter"]


class ReferenceSourceFilter(Filter[NoOptions]):
    """Keeps only contacts whose ReferenceSource is "Legacy RaiseDonors": the contacts
    RaiseDonors sent, the only ones that sync back to it. It takes no options: the rule is
    the integration's, not a setting."""

    def reason_to_drop(self, change: Change) -> str | None:
        wanted = RAISEDONORS_REFERENCE_SOURCE
        source = change.fields.get("reference_source")
        if source == wanted:
            return None
        contact = change.fields.get("virtuous_contact_id") or change.key
        said = "no reference source" if not source else f"reference source {source!r}"
        return (
            f"Virtuous CRM+ contact {contact} has {said}, not {wanted!r}: only contacts from "
            "Legacy RaiseDonors sync back to it"
        )
