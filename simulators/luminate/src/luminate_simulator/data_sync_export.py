"""What Luminate sends to Raiser's Edge through the connector, and what it holds back (seed 000).

:class:`ExportState` is everything the data sync remembers between runs: the constituents the
On Demand triggers queued, the offline-segment assignments waiting, what was last sent of each
constituent, the transactions already sent, Resolve New Registrations (PREDUP pending, RnR
matches), the cross-reference mappings and the RE code tables they are checked against.

:class:`Compilation` writes one run's files for RE (``/download/``) from that state, under the
site lock, streamed with :mod:`csv` to local files, and stages what the run may commit: nothing
counts as sent until its file and manifest are on the FTP server (:meth:`StagedFile.commit`).

The rules:

- **Constituents** go only when an On Demand trigger queued them, and are held (stay queued,
  reported with the reason) while pending PREDUP, with an RnR match, or without a last name.
  The ids and FIRST_NAME/LAST_NAME/PRIMARY_EMAIL are always written; the other biographical and
  address columns only when they changed since they were last sent.
- **Transactions** not sent yet, of the synced types (settled donations, pledge payments,
  recurring gifts, ticket and eCommerce purchases, TeamRaiser registrations when the setting is
  on, tribute donations = personal fundraising gifts), each sent once; skipped while the donor or
  solicitor is pending PREDUP / has an RnR match / has no EXCHANGE_ID, or while the campaign or
  form has no cross-reference mapping. Every skip goes to the skipped-transactions report.
"""

from __future__ import annotations

import csv
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, Literal, TypeVar

from luminate_simulator._faults import AdminError, AdminNotFound
from luminate_simulator._stores import AssociatedStore, Transaction, TransactionStore
from luminate_simulator.constituents import Constituent, ConstituentDirectory
from luminate_simulator.data_sync_model import MISSING_TR_SOLICITOR_IMPORT_ID, SyncSettings
from luminate_simulator.schema import RECORD_TYPES

if TYPE_CHECKING:
    from _csv import Writer as _CsvWriter

__all__ = [
    "CHANGED_ONLY_COLUMNS",
    "CODE_TABLES",
    "CONSTITUENT_COLUMNS",
    "CROSS_REFERENCE_SOURCES",
    "HELD_CONSTITUENT_COLUMNS",
    "RECURRING_CREATION_METHOD",
    "SEGMENT_COLUMNS",
    "SKIPPED_TRANSACTION_COLUMNS",
    "TRANSACTION_COLUMNS",
    "Compilation",
    "ConstituentReason",
    "CrossReference",
    "CrossReferenceSource",
    "ExportState",
    "QueuedConstituent",
    "StagedFile",
    "TransactionKind",
]

# -- the files' columns (contract section 2) ---------------------------------------------------

CONSTITUENT_COLUMNS: Final[tuple[str, ...]] = (
    "CONS_ID",
    "MEMBER_ID",
    "EXCHANGE_ID",
    "FIRST_NAME",
    "MIDDLE_NAME",
    "LAST_NAME",
    "PRIMARY_EMAIL",
    "HOME_STREET1",
    "HOME_STREET2",
    "HOME_CITY",
    "HOME_STATEPROV",
    "HOME_ZIP",
    "HOME_COUNTRY",
    "HOME_PHONE",
    "ACCEPTS_EMAIL",
    "REASON",
)
#: Written only when changed since they were last sent to RE (blank = unchanged).
CHANGED_ONLY_COLUMNS: Final[tuple[str, ...]] = (
    "MIDDLE_NAME",
    "HOME_STREET1",
    "HOME_STREET2",
    "HOME_CITY",
    "HOME_STATEPROV",
    "HOME_ZIP",
    "HOME_COUNTRY",
    "HOME_PHONE",
    "ACCEPTS_EMAIL",
)
TRANSACTION_COLUMNS: Final[tuple[str, ...]] = (
    "TRANSACTION_ID",
    "TRANSACTION_TYPE",
    "DONOR_CONS_ID",
    "DONOR_EXCHANGE_ID",
    "SOLICITOR_CONS_ID",
    "SOLICITOR_EXCHANGE_ID",
    "AMOUNT",
    "DATE",
    "RE_CAMPAIGN",
    "RE_FUND",
    "RE_APPEAL",
    "PLEDGE_IMPORT_ID",
    "TRIBUTE_NAME",
)
SEGMENT_COLUMNS: Final[tuple[str, ...]] = ("CONS_ID", "EXCHANGE_ID", "SEGMENT")
#: The reports Luminate keeps for the admin (Available Files; never on the FTP server).
SKIPPED_TRANSACTION_COLUMNS: Final[tuple[str, ...]] = (
    "TRANSACTION_ID",
    "TRANSACTION_TYPE",
    "LUMINATE_TYPE",
    "DONOR_CONS_ID",
    "SOLICITOR_CONS_ID",
    "AMOUNT",
    "REASON",
)
HELD_CONSTITUENT_COLUMNS: Final[tuple[str, ...]] = ("CONS_ID", "QUEUED_BY", "SEGMENT", "REASON")

ConstituentReason = Literal[
    "profile_viewed", "profile_modified", "new_registration", "group_segment"
]
TransactionKind = Literal[
    "Donation",
    "PledgePayment",
    "RecurringGift",
    "TicketPurchase",
    "ECommercePurchase",
    "TeamRaiserRegistration",
    "TributeDonation",
]

#: RE's cross-reference code tables a mapping points into.
CODE_TABLES: Final[tuple[str, ...]] = ("Campaign", "Fund", "Appeal")

#: What a cross-reference mapping maps from: the Luminate record a transaction names.
CrossReferenceSource = Literal[
    "DonationForm",
    "DonationCampaign",
    "TeamRaiserEvent",
    "PersonalFundraisingCampaign",
    "CalendarEvent",
    "Product",
]
CROSS_REFERENCE_SOURCES: Final[tuple[CrossReferenceSource, ...]] = (
    "DonationForm",
    "DonationCampaign",
    "TeamRaiserEvent",
    "PersonalFundraisingCampaign",
    "CalendarEvent",
    "Product",
)
# The transaction element naming each source is that record type's own id element.
_SOURCE_FIELD: Final[dict[str, str]] = {
    s: RECORD_TYPES[s].id_field for s in CROSS_REFERENCE_SOURCES
}

#: Payment.CreationMethod of a recurring gift's installment (0 offline, 1 online, 2 recurring).
RECURRING_CREATION_METHOD: Final = 2

_HELD_PREDUP: Final = "pending PREDUP (Resolve New Registrations)"
_NO_LAST_NAME: Final = "no last name"


_K = TypeVar("_K")
_V = TypeVar("_V")


def _queued(queue: Mapping[_K, _V], only: Collection[_K] | None) -> list[tuple[_K, _V]]:
    """The queue's entries (all, or those of ``only`` still queued), copied: compiling removes
    entries from the queue as it goes."""
    if only is None:
        return list(queue.items())
    return [(key, queue[key]) for key in only if key in queue]


@dataclass(slots=True)
class QueuedConstituent:
    """A constituent an On Demand trigger queued; ``seq`` changes each time it is queued again,
    so a run commits only the version it compiled."""

    reason: ConstituentReason
    seq: int


@dataclass(frozen=True, slots=True)
class CrossReference:
    """A Luminate campaign/form/event mapped to RE Campaign, Fund and Appeal codes."""

    source_type: CrossReferenceSource
    source_id: int
    campaign: str
    fund: str
    appeal: str
    mapped_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "source_type": self.source_type,
            "source_id": self.source_id,
            "campaign": self.campaign,
            "fund": self.fund,
            "appeal": self.appeal,
            "mapped_at": self.mapped_at,
        }


class ExportState:
    """Everything the data sync remembers between runs. Not thread-safe: hold the site lock."""

    def __init__(self) -> None:
        self.queue: dict[int, QueuedConstituent] = {}
        self.segment_queue: dict[tuple[int, str], int] = {}
        # CONS_ID -> the CHANGED_ONLY_COLUMNS values as they were last sent (rendered text).
        self.last_sent: dict[int, tuple[str, ...]] = {}
        self.sent_transactions: set[int] = set()
        self.pending_predup: dict[int, datetime] = {}
        self.rnr_matches: dict[int, int] = {}
        self.cross_references: dict[str, dict[int, CrossReference]] = {
            source: {} for source in CROSS_REFERENCE_SOURCES
        }
        # table -> code -> description; None until the connector sent code tables.
        self.code_tables: dict[str, dict[str, str]] | None = None
        self.code_tables_received_at: datetime | None = None
        self.pledge_payments: dict[int, str] = {}
        self.unsettled: set[int] = set()
        self._seq = 0

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def enqueue(self, cons_id: int, reason: ConstituentReason) -> None:
        """Queue a constituent for RE; queued again, it keeps one place with the newest reason."""
        self.queue[cons_id] = QueuedConstituent(reason, self.next_seq())

    def enqueue_segment(self, cons_id: int, segment: str) -> None:
        self.segment_queue[(cons_id, segment)] = self.next_seq()

    def holds(self, cons: Constituent) -> list[str]:
        """Why a constituent may not be exported now (empty: it may)."""
        reasons: list[str] = []
        if cons.cons_id in self.pending_predup:
            reasons.append(_HELD_PREDUP)
        matched = self.rnr_matches.get(cons.cons_id)
        if matched is not None:
            reasons.append(f"RnR (Resolve New Registrations) match with constituent {matched}")
        if not cons.last_name:
            reasons.append(_NO_LAST_NAME)
        return reasons

    def cross_reference_of(self, transaction: Transaction) -> CrossReference | None:
        """The mapping a transaction's campaign/form/event resolves to (a donation form's own
        mapping wins over its campaign's)."""
        values = transaction.values
        for source in _SOURCES_OF.get(transaction.record_type, ()):
            source_id = values.get(_SOURCE_FIELD[source])
            if source_id is None:
                continue
            found = self.cross_references[source].get(source_id)
            if found is not None:
                return found
        return None

    def add_cross_reference(
        self, mapping: CrossReference, associated: AssociatedStore
    ) -> CrossReference:
        """Store a mapping after checking its source exists and its codes are RE's."""
        source = mapping.source_type
        if source not in self.cross_references:
            raise AdminError(
                f"source_type: {source!r} is not one of {', '.join(CROSS_REFERENCE_SOURCES)}"
            )
        if mapping.source_id not in associated.records[source]:
            raise AdminNotFound(f"source_id: there is no {source} {mapping.source_id}")
        tables = self.code_tables
        if tables is None:
            raise AdminError(
                "The RE code tables have not been received yet: run the data sync once so the "
                "connector sends RE's Campaign, Fund and Appeal codes, then map."
            )
        for table, code in (
            ("Campaign", mapping.campaign),
            ("Fund", mapping.fund),
            ("Appeal", mapping.appeal),
        ):
            if code not in tables.get(table, {}):
                raise AdminError(
                    f"{table.lower()}: {code!r} is not an RE {table} code (RE's {table} codes "
                    f"received: {_some(tables.get(table, {}))})"
                )
        self.cross_references[source][mapping.source_id] = mapping
        return mapping

    def snapshot(self) -> dict[str, Any]:
        return {
            "queued_constituents": [
                {"cons_id": cons_id, "reason": entry.reason}
                for cons_id, entry in self.queue.items()
            ],
            "queued_segments": [
                {"cons_id": cons_id, "segment": segment} for cons_id, segment in self.segment_queue
            ],
            "pending_predup": sorted(self.pending_predup),
            "rnr_matches": [
                {"cons_id": cons_id, "matched_cons_id": matched}
                for cons_id, matched in sorted(self.rnr_matches.items())
            ],
            "cross_references": [
                mapping.to_json()
                for mappings in self.cross_references.values()
                for mapping in mappings.values()
            ],
            "code_tables": self.code_tables_json(),
            "code_tables_received_at": self.code_tables_received_at,
            "pledge_payments": [
                {"transaction_id": tid, "pledge_import_id": pledge}
                for tid, pledge in sorted(self.pledge_payments.items())
            ],
            "unsettled_transactions": sorted(self.unsettled),
            "transactions_sent": len(self.sent_transactions),
            "constituents_sent": len(self.last_sent),
        }

    def code_tables_json(self) -> dict[str, list[dict[str, str]]] | None:
        if self.code_tables is None:
            return None
        return {
            table: [
                {"code": code, "description": description}
                for code, description in self.code_tables.get(table, {}).items()
            ]
            for table in CODE_TABLES
        }


_SOURCES_OF: Final[dict[str, tuple[CrossReferenceSource, ...]]] = {
    "Donation": ("DonationForm", "DonationCampaign"),
    "TeamRaiserGift": ("TeamRaiserEvent",),
    "TeamRaiserRegistration": ("TeamRaiserEvent",),
    "PersonalFundraisingGift": ("PersonalFundraisingCampaign",),
    "TicketPurchase": ("CalendarEvent",),
    "ProductOrder": ("Product",),
}

#: Luminate record types whose transactions go to RE (TeamRaiser gifts are donations with the
#: participant as solicitor; action alert responses carry no money and are not synced).
_SYNCED_TYPES: Final = frozenset(_SOURCES_OF)


def _missing_mapping(transaction: Transaction) -> str:
    """The skip reason of a transaction whose campaign/form/event has no mapping."""
    values = transaction.values
    named = [
        f"{source} {values[_SOURCE_FIELD[source]]}"
        for source in _SOURCES_OF[transaction.record_type]
        if values.get(_SOURCE_FIELD[source]) is not None
    ]
    if not named:
        wanted = " or ".join(_SOURCES_OF[transaction.record_type])
        return f"No cross-reference mapping: the transaction names no {wanted}"
    return f"No cross-reference mapping for {' or '.join(named)}"


def _some(codes: Mapping[str, str]) -> str:
    if not codes:
        return "none"
    names = list(codes)
    shown = ", ".join(names[:10])
    return shown if len(names) <= 10 else f"{shown} and {len(names) - 10} more"


# -- one run's compilation --------------------------------------------------------------------


@dataclass(slots=True)
class StagedFile:
    """A file compiled for RE, waiting to go to ``/download/``; ``commit`` records it as sent."""

    kind: Literal["constituents", "transactions", "segments"]
    path: Path
    rows: int
    # What to record once the file and its manifest are on the FTP server.
    constituents: list[tuple[int, int, tuple[str, ...]]] = field(default_factory=list)
    segments: list[tuple[tuple[int, str], int]] = field(default_factory=list)
    transactions: list[int] = field(default_factory=list)

    def commit(self, state: ExportState) -> None:
        """Record the file's records as sent (hold the site lock)."""
        queue = state.queue
        for cons_id, seq, values in self.constituents:
            state.last_sent[cons_id] = values
            entry = queue.get(cons_id)
            if entry is not None and entry.seq == seq:
                del queue[cons_id]
        segment_queue = state.segment_queue
        for key, seq in self.segments:
            if segment_queue.get(key) == seq:
                del segment_queue[key]
        state.sent_transactions.update(self.transactions)


class _Report:
    """A CSV report opened at its first row: nothing to report, no file."""

    def __init__(self, path: Path, header: tuple[str, ...]) -> None:
        self.path = path
        self.header = header
        self.rows = 0
        self._stream: IO[str] | None = None
        self._writer: _CsvWriter | None = None

    def write(self, row: Iterable[object]) -> None:
        if self._writer is None:
            self._stream = self.path.open("w", encoding="utf-8", newline="")
            self._writer = csv.writer(self._stream)
            self._writer.writerow(self.header)
        self._writer.writerow(row)
        self.rows += 1

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None


class Compilation:
    """One run's files for RE and its reports, compiled from the export state.

    Call the ``compile_*`` methods holding the site lock; they write to ``folder`` only.
    ``only`` limits a compile to what an On Demand push is about (None: everything due).
    """

    def __init__(
        self,
        folder: Path,
        state: ExportState,
        directory: ConstituentDirectory,
        transactions: TransactionStore,
        associated: AssociatedStore,
        settings: SyncSettings,
    ) -> None:
        self.folder = folder
        self.state = state
        self.directory = directory
        self.transactions = transactions
        self.associated = associated
        self.settings = settings
        self.staged: list[StagedFile] = []
        self.held = _Report(folder / "held_constituents.csv", HELD_CONSTITUENT_COLUMNS)
        self.skipped = _Report(folder / "skipped_transactions.csv", SKIPPED_TRANSACTION_COLUMNS)
        self.held_counts: dict[str, int] = {}
        self.held_segments = 0
        self.dropped_removed = 0
        self.skip_counts = {"hold": 0, "donor": 0, "solicitor": 0, "tr_solicitor": 0, "xref": 0}

    # -- constituents -------------------------------------------------------------------------

    def compile_constituents(self, only: Collection[int] | None = None) -> StagedFile | None:
        state = self.state
        queue = state.queue
        items = _queued(queue, only)
        if not items:
            return None
        get = self.directory.get
        last_sent = state.last_sent
        path = self.folder / "constituents.csv"
        staged = StagedFile("constituents", path, 0)
        with path.open("w", encoding="utf-8", newline="") as stream:
            write = csv.writer(stream).writerow
            write(CONSTITUENT_COLUMNS)
            for cons_id, entry in items:
                cons = get(cons_id)
                if cons is None or not cons.active:
                    # Removed since it was queued: RE gets nothing about a removed record.
                    del queue[cons_id]
                    self.dropped_removed += 1
                    continue
                reasons = state.holds(cons)
                if reasons:
                    self._hold(cons_id, entry.reason, "", reasons)
                    continue
                current = (
                    cons.middle_name or "",
                    cons.street1 or "",
                    cons.street2 or "",
                    cons.city or "",
                    cons.state or "",
                    cons.zip or "",
                    cons.country or "",
                    cons.home_phone or "",
                    "TRUE" if cons.accepts_email else "FALSE",
                )
                previous = last_sent.get(cons_id)
                changed = (
                    current
                    if previous is None
                    else tuple(
                        now if now != then else ""
                        for now, then in zip(current, previous, strict=True)
                    )
                )
                write(
                    (
                        cons_id,
                        cons.member_id or "",
                        cons.exchange_id or "",
                        cons.first_name or "",
                        changed[0],
                        cons.last_name or "",
                        cons.primary_email or "",
                        *changed[1:],
                        entry.reason,
                    )
                )
                staged.constituents.append((cons_id, entry.seq, current))
        staged.rows = len(staged.constituents)
        return self._staged(staged)

    def _hold(self, cons_id: int, queued_by: str, segment: str, reasons: list[str]) -> None:
        self.held.write((cons_id, queued_by, segment, "; ".join(reasons)))
        if segment:
            self.held_segments += 1
            return
        for reason in reasons:
            key = "rnr" if reason.startswith("RnR") else reason
            self.held_counts[key] = self.held_counts.get(key, 0) + 1

    # -- offline segments ---------------------------------------------------------------------

    def compile_segments(
        self, only: Collection[tuple[int, str]] | None = None
    ) -> StagedFile | None:
        state = self.state
        queue = state.segment_queue
        items = _queued(queue, only)
        if not items:
            return None
        get = self.directory.get
        path = self.folder / "segments.csv"
        staged = StagedFile("segments", path, 0)
        with path.open("w", encoding="utf-8", newline="") as stream:
            write = csv.writer(stream).writerow
            write(SEGMENT_COLUMNS)
            for key, seq in items:
                cons_id, segment = key
                cons = get(cons_id)
                if cons is None or not cons.active:
                    del queue[key]
                    self.dropped_removed += 1
                    continue
                reasons = state.holds(cons)
                if reasons:
                    self._hold(cons_id, "group_segment", segment, reasons)
                    continue
                write((cons_id, cons.exchange_id or "", segment))
                staged.segments.append((key, seq))
        staged.rows = len(staged.segments)
        return self._staged(staged)

    # -- transactions -------------------------------------------------------------------------

    def compile_transactions(self, only: Collection[int] | None = None) -> StagedFile | None:
        """Every transaction not sent yet that may go now (``only``: just these ids).

        The loop is flat on purpose: it runs once per transaction of the site (half a million
        in the benchmark), so it reads locals and writes tuples, nothing built per row.
        """
        state = self.state
        live = self.transactions.live
        candidates: Iterable[Transaction] = (
            live.values() if only is None else [live[tid] for tid in only if tid in live]
        )
        sent = state.sent_transactions
        unsettled = state.unsettled
        pledges = state.pledge_payments
        predup = state.pending_predup
        rnr = state.rnr_matches
        get = self.directory.get
        teamraiser_registrations = self.settings.teamraiser_registrations
        # Keyed by the element values of transactions (None when a transaction names none).
        pages: Mapping[Any, Mapping[str, Any]] = self.associated.records[
            "PersonalFundraisingCampaign"
        ]
        xrefs: Mapping[str, Mapping[Any, CrossReference]] = state.cross_references
        forms, campaigns = xrefs["DonationForm"], xrefs["DonationCampaign"]
        events, personal_pages = xrefs["TeamRaiserEvent"], xrefs["PersonalFundraisingCampaign"]
        calendar, products = xrefs["CalendarEvent"], xrefs["Product"]
        counts = self.skip_counts
        skip = self.skipped.write
        recurring = RECURRING_CREATION_METHOD
        dates: dict[datetime, str] = {}
        path = self.folder / "transactions.csv"
        staged = StagedFile("transactions", path, 0)
        staged_ids = staged.transactions
        with path.open("w", encoding="utf-8", newline="") as stream:
            write = csv.writer(stream).writerow
            write(TRANSACTION_COLUMNS)
            for t in candidates:
                tid = t.transaction_id
                if tid in sent:
                    continue
                record_type = t.record_type
                if record_type not in _SYNCED_TYPES:
                    continue
                if tid in unsettled:
                    continue  # not settled yet: not a transaction to sync, so not a skip
                values = t.values
                payment = t.payment
                kind: TransactionKind
                solicitor: int | None = None
                teamraiser = False
                tribute = ""
                pledge = ""
                if record_type == "Donation":
                    pledge = pledges.get(tid, "")
                    if pledge:
                        kind = "PledgePayment"
                    elif payment is not None and payment["CreationMethod"] == recurring:
                        kind = "RecurringGift"
                    else:
                        kind = "Donation"
                    xref = forms.get(values.get("FormId")) or campaigns.get(
                        values.get("CampaignId")
                    )
                elif record_type == "TeamRaiserGift":
                    kind = "Donation"
                    solicitor = values.get("RecipientConsId")
                    teamraiser = True
                    xref = events.get(values.get("EventId"))
                elif record_type == "TeamRaiserRegistration":
                    if not teamraiser_registrations:
                        continue  # the setting is off: registrations are not synced at all
                    kind = "TeamRaiserRegistration"
                    teamraiser = True
                    xref = events.get(values.get("EventId"))
                elif record_type == "PersonalFundraisingGift":
                    kind = "TributeDonation"
                    page_id = values.get("PersonalFundraisingCampaignId")
                    page = pages.get(page_id)
                    if page is not None:
                        solicitor = page.get("OwnerConsId")
                        tribute = page.get("Title") or ""
                    xref = personal_pages.get(page_id)
                elif record_type == "TicketPurchase":
                    kind = "TicketPurchase"
                    xref = calendar.get(values.get("CalendarEventId"))
                else:  # ProductOrder
                    kind = "ECommercePurchase"
                    xref = products.get(values.get("ProductId"))

                donor_id = t.cons_id
                donor = get(donor_id)
                donor_exchange = donor.exchange_id if donor is not None else None
                reasons: list[str] | None = None
                held = False
                if donor_id in predup:
                    reasons = [f"Donor {donor_id} is {_HELD_PREDUP}"]
                    held = True
                if donor_id in rnr:
                    reasons = reasons or []
                    reasons.append(f"Donor {donor_id} has an RnR (Resolve New Registrations) match")
                    held = True
                if not donor_exchange:
                    reasons = reasons or []
                    reasons.append(f"Donor {donor_id} has no EXCHANGE_ID (no RE ImportID)")
                    counts["donor"] += 1
                solicitor_exchange: str | None = ""
                if solicitor is not None:
                    who = "TR solicitor" if teamraiser else "Solicitor"
                    found = get(solicitor)
                    solicitor_exchange = found.exchange_id if found is not None else None
                    if solicitor in predup:
                        reasons = reasons or []
                        reasons.append(f"{who} {solicitor} is {_HELD_PREDUP}")
                        held = True
                    if solicitor in rnr:
                        reasons = reasons or []
                        reasons.append(
                            f"{who} {solicitor} has an RnR (Resolve New Registrations) match"
                        )
                        held = True
                    if not solicitor_exchange:
                        reasons = reasons or []
                        reasons.append(f"{who} {solicitor} has no EXCHANGE_ID (no RE ImportID)")
                        counts["tr_solicitor" if teamraiser else "solicitor"] += 1
                if xref is None:
                    reasons = reasons or []
                    reasons.append(_missing_mapping(t))
                    counts["xref"] += 1
                amount = payment["Amount"] if payment is not None else ""
                if reasons is not None:
                    if held:
                        counts["hold"] += 1
                    skip(
                        (
                            tid,
                            kind,
                            record_type,
                            donor_id,
                            "" if solicitor is None else solicitor,
                            amount,
                            "; ".join(reasons),
                        )
                    )
                    continue
                assert xref is not None
                paid = payment["PaymentDate"] if payment is not None else t.created_at
                date = dates.get(paid)
                if date is None:
                    date = dates[paid] = paid.date().isoformat()
                write(
                    (
                        tid,
                        kind,
                        donor_id,
                        donor_exchange,
                        "" if solicitor is None else solicitor,
                        solicitor_exchange,
                        amount,
                        date,
                        xref.campaign,
                        xref.fund,
                        xref.appeal,
                        pledge,
                        tribute,
                    )
                )
                staged_ids.append(tid)
        staged.rows = len(staged_ids)
        return self._staged(staged)

    # -- results ------------------------------------------------------------------------------

    def _staged(self, staged: StagedFile) -> StagedFile | None:
        if staged.rows == 0:
            staged.path.unlink()  # a file with no rows is not written (contract)
            return None
        self.staged.append(staged)
        return staged

    def close(self) -> None:
        self.held.close()
        self.skipped.close()

    def relocate(self, folder: Path) -> None:
        """Point at the same files after their folder was moved to ``folder``."""
        self.folder = folder
        for staged in self.staged:
            staged.path = folder / staged.path.name
        for report in (self.held, self.skipped):
            report.path = folder / report.path.name

    def summary(self) -> list[tuple[str, bool]]:
        """The messages this compilation adds to the Operation Result: (text, is_problem)."""
        messages: list[tuple[str, bool]] = []
        for staged in self.staged:
            what = {
                "constituents": "Constituents",
                "transactions": "Transactions",
                "segments": "Offline segment assignments",
            }[staged.kind]
            messages.append((f"{what} compiled for Raiser's Edge: {staged.rows}", False))
        held = self.held_counts
        for key, text in (
            (_HELD_PREDUP, "they are pending PREDUP (Resolve New Registrations)"),
            ("rnr", "of an RnR (Resolve New Registrations) match"),
            (_NO_LAST_NAME, "they have no last name"),
        ):
            if held.get(key):
                messages.append(
                    (f"Number of constituents not downloaded because {text}: {held[key]}", True)
                )
        if self.held_segments:
            messages.append(
                (
                    "Number of offline segment assignments not downloaded because the "
                    f"constituent may not be exported yet: {self.held_segments}",
                    True,
                )
            )
        if self.dropped_removed:
            messages.append(
                (
                    "Queued constituents removed from Luminate since and not sent: "
                    f"{self.dropped_removed}",
                    False,
                )
            )
        counts = self.skip_counts
        if counts["tr_solicitor"]:
            messages.append(
                (MISSING_TR_SOLICITOR_IMPORT_ID.format(count=counts["tr_solicitor"]), True)
            )
        for key, text in (
            ("donor", "missing ImportID for donor"),
            ("solicitor", "missing ImportID for solicitor"),
            ("hold", "a donor or solicitor pending PREDUP or with an RnR match"),
            ("xref", "missing cross-references"),
        ):
            if counts[key]:
                messages.append(
                    (f"Number of transactions not downloaded due to {text}: {counts[key]}", True)
                )
        return messages
