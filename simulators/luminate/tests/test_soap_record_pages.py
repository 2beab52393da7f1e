"""Record pages (GetIncremental*, Query, Find) are written as text for speed: the bytes must be
exactly those the lxml tree writer produces, and odd text must still be handled by lxml."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from luminate_simulator import soap
from luminate_simulator.app import LuminateSimulator
from luminate_simulator.sample import add_refunds, populate
from luminate_simulator.soap import OPERATIONS, TypedRecord, response_envelope
from lxml import etree

from syncframe.clock import ManualClock


def tree_written(operation_name: str, records: Sequence[TypedRecord]) -> bytes:
    operation = OPERATIONS[operation_name]
    envelope, body = soap._envelope()
    response = etree.SubElement(
        body, f"{{{soap.TNS}}}{operation.name}Response", nsmap={None: soap.TNS}
    )
    soap._write_parts(response, operation.response, {"Record": list(records)})
    return soap._serialise(envelope)


@pytest.mark.parametrize("operation", ["GetIncrementalInserts", "Query", "Find"])
def test_text_pages_are_the_bytes_the_tree_writer_makes(operation: str) -> None:
    records = [
        TypedRecord(
            "Constituent",
            {
                "ConsId": 1001001,
                "MemberId": None,
                "PrimaryEmail": "a&b@example.org",
                "ConsName": {"FirstName": 'Zoë <"the" boss>', "LastName": "O'Neil"},
                "AcceptsEmail": True,
            },
        ),
        TypedRecord("Refund", {"RefundId": 3001, "Online": False, "FullRefund": None}),
    ]
    assert response_envelope(OPERATIONS[operation], {"Record": records}) == tree_written(
        operation, records
    )
    assert response_envelope(OPERATIONS[operation], {"Record": []}) == tree_written(operation, [])


def test_a_page_of_a_whole_sample_site_is_written_the_same() -> None:
    sim = LuminateSimulator(clock=ManualClock(), seed=0)
    site = populate(sim.services, constituents=20, transactions=300)
    add_refunds(sim.services, site)
    store = sim.services.transactions
    records = [
        TypedRecord(tx.record_type, tx.record(sim.services.directory.get(tx.cons_id)))
        for tx in [*store.live.values(), *store.audit.values()]
    ]
    assert len(records) == 300
    page = response_envelope(OPERATIONS["GetIncrementalInserts"], {"Record": records})
    assert page == tree_written("GetIncrementalInserts", records)


def test_control_characters_are_left_to_lxml() -> None:
    record = TypedRecord("Constituent", {"ConsId": 1, "ConsName": {"FirstName": "line\rbreak"}})
    page = response_envelope(OPERATIONS["GetIncrementalInserts"], {"Record": [record]})
    assert page == tree_written("GetIncrementalInserts", [record])
    assert b"&#13;" in page
