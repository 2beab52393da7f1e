"""The data sync's admin routes, under ``/_admin/luminate/``: what a Luminate site admin does in
Data Management > Import/Export (All Data Sync Operations, Operation Results, cross-reference
mapping, Resolve New Registrations), in Constituent360 (viewing a profile) and with groups.

Every route answers JSON (``{"error": ...}`` naming the field for bad input; 409 for an action
the data sync's state refuses) except an Available File, which is served as the file itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route
from syncframe_simulators.admin import json_response, read_json

from luminate_simulator._faults import AdminError
from luminate_simulator._fields import render_json
from luminate_simulator.data_sync import DATA_SYNC_URL_PREFIX, DataSync, DataSyncConflict, OnDemand
from luminate_simulator.data_sync_export import CrossReferenceSource
from luminate_simulator.data_sync_model import OperationEdit, OperationIn

__all__ = ["data_sync_routes", "on_demand_json"]

Handler = Callable[[Request], Awaitable[Response]]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _CrossReferenceIn(_Body):
    source_type: CrossReferenceSource
    source_id: int = Field(ge=1)
    campaign: str = Field(min_length=1)
    fund: str = Field(min_length=1)
    appeal: str = Field(min_length=1)


class _GroupIn(_Body):
    name: str = Field(min_length=1, max_length=100)
    members: list[int] = []


class _MembersIn(_Body):
    cons_ids: list[int] = Field(min_length=1)


class _SegmentIn(_Body):
    segment: str = Field(min_length=1)


class _RnrMatchIn(_Body):
    matched_cons_id: int = Field(ge=1)


class _PledgeIn(_Body):
    pledge_import_id: str = Field(min_length=1)


class _SettlementIn(_Body):
    settled: bool


def _int(request: Request, name: str) -> int:
    raw = request.path_params[name]
    try:
        return int(raw)
    except ValueError:
        raise AdminError(f"{name}: {raw!r} is not a number") from None


def _answer(data: Any, status_code: int = 200) -> Response:
    """JSON with times in UTC written with ``Z``, as everywhere in the Luminate simulator."""
    return json_response(render_json(data), status_code=status_code)


def on_demand_json(outcome: OnDemand | None) -> dict[str, Any] | None:
    """An On Demand outcome in an admin answer (None when no trigger was involved)."""
    if outcome is None:
        return None
    data: dict[str, Any] = render_json(outcome.to_json())
    return data


def data_sync_routes(sync: DataSync, endpoint: Callable[[Handler], Handler]) -> list[BaseRoute]:
    """The routes, each wrapped in ``endpoint`` (the simulator's error mapping) and mapping
    :class:`DataSyncConflict` to 409."""

    def route(path: str, handler: Handler, method: str) -> Route:
        async def conflicts(request: Request) -> Response:
            try:
                return await handler(request)
            except DataSyncConflict as conflict:
                return json_response({"error": conflict.message}, status_code=409)

        return Route(f"/luminate{path}", endpoint(conflicts), methods=[method])

    def result_json(result: Any) -> dict[str, Any]:
        data: dict[str, Any] = result.to_json(DATA_SYNC_URL_PREFIX)
        return data

    # -- operations and results ------------------------------------------------------------

    async def create_operation(request: Request) -> Response:
        spec = OperationIn.model_validate(await read_json(request))
        return _answer(sync.create_operation(spec).to_json(), status_code=201)

    async def list_operations(request: Request) -> Response:
        return _answer({"operations": [op.to_json() for op in sync.operations.values()]})

    async def get_operation(request: Request) -> Response:
        return _answer(sync.operation(_int(request, "operation_id")).to_json())

    async def edit_operation(request: Request) -> Response:
        edit = OperationEdit.model_validate(await read_json(request))
        return _answer(sync.edit_operation(_int(request, "operation_id"), edit).to_json())

    async def run_now(request: Request) -> Response:
        return _answer(result_json(await sync.run_now(_int(request, "operation_id"))))

    async def run_due(request: Request) -> Response:
        return _answer({"results": [result_json(r) for r in await sync.run_due()]})

    async def list_results(request: Request) -> Response:
        raw = request.query_params.get("operation_id")
        operation_id: int | None = None
        if raw is not None:
            try:
                operation_id = int(raw)
            except ValueError:
                raise AdminError(f"operation_id: {raw!r} is not a number") from None
        return _answer({"results": [result_json(r) for r in sync.result_list(operation_id)]})

    async def get_result(request: Request) -> Response:
        return _answer(result_json(sync.result(_int(request, "result_id"))))

    async def result_file(request: Request) -> Response:
        name = request.path_params["name"]
        path = sync.result_file(_int(request, "result_id"), name)
        return FileResponse(path, media_type="text/csv; charset=utf-8", filename=name)

    # -- cross references and code tables --------------------------------------------------

    async def map_cross_reference(request: Request) -> Response:
        body = _CrossReferenceIn.model_validate(await read_json(request))
        mapping, outcome = await sync.map_cross_reference(
            body.source_type, body.source_id, body.campaign, body.fund, body.appeal
        )
        return _answer(
            {"cross_reference": mapping.to_json(), "on_demand": on_demand_json(outcome)},
            status_code=201,
        )

    async def list_cross_references(request: Request) -> Response:
        mappings = sync.cross_references()
        return _answer({"cross_references": [m.to_json() for m in mappings]})

    async def code_tables(request: Request) -> Response:
        received_at, tables = sync.code_tables()
        return _answer({"received_at": received_at, "tables": tables})

    # -- Resolve New Registrations, pledges, settlement ------------------------------------

    async def resolve_registration(request: Request) -> Response:
        cons_id = _int(request, "cons_id")
        sync.resolve_registration(cons_id)
        return _answer({"cons_id": cons_id, "pending_predup": False})

    async def rnr_match(request: Request) -> Response:
        cons_id = _int(request, "cons_id")
        if request.method == "DELETE":
            sync.clear_rnr_match(cons_id)
            return _answer({"cons_id": cons_id, "matched_cons_id": None})
        body = _RnrMatchIn.model_validate(await read_json(request))
        sync.set_rnr_match(cons_id, body.matched_cons_id)
        return _answer({"cons_id": cons_id, "matched_cons_id": body.matched_cons_id})

    async def pledge_payment(request: Request) -> Response:
        transaction_id = _int(request, "transaction_id")
        body = _PledgeIn.model_validate(await read_json(request))
        sync.mark_pledge_payment(transaction_id, body.pledge_import_id)
        return _answer(
            {"transaction_id": transaction_id, "pledge_import_id": body.pledge_import_id.strip()}
        )

    async def settlement(request: Request) -> Response:
        transaction_id = _int(request, "transaction_id")
        body = _SettlementIn.model_validate(await read_json(request))
        sync.set_settled(transaction_id, body.settled)
        return _answer({"transaction_id": transaction_id, "settled": body.settled})

    # -- Constituent360 and groups ---------------------------------------------------------

    async def view_profile(request: Request) -> Response:
        cons_id = _int(request, "cons_id")
        outcome = await sync.profile_viewed(cons_id)
        return _answer({"ConsId": cons_id, "on_demand": on_demand_json(outcome)})

    async def add_group(request: Request) -> Response:
        body = _GroupIn.model_validate(await read_json(request))
        return _answer(sync.add_group(body.name, body.members).to_json(), status_code=201)

    async def list_groups(request: Request) -> Response:
        return _answer({"groups": [g.to_json() for g in sync.groups.groups.values()]})

    async def add_members(request: Request) -> Response:
        body = _MembersIn.model_validate(await read_json(request))
        group, outcome = await sync.add_group_members(_int(request, "group_id"), body.cons_ids)
        return _answer({"group": group.to_json(), "on_demand": on_demand_json(outcome)})

    async def map_segment(request: Request) -> Response:
        body = _SegmentIn.model_validate(await read_json(request))
        group, outcome = await sync.map_group_to_segment(_int(request, "group_id"), body.segment)
        return _answer({"group": group.to_json(), "on_demand": on_demand_json(outcome)})

    ds = "/data-sync"
    return [
        route(f"{ds}/operations", create_operation, "POST"),
        route(f"{ds}/operations", list_operations, "GET"),
        route(f"{ds}/operations/{{operation_id}}", get_operation, "GET"),
        route(f"{ds}/operations/{{operation_id}}", edit_operation, "PATCH"),
        route(f"{ds}/operations/{{operation_id}}/run", run_now, "POST"),
        route(f"{ds}/run-due", run_due, "POST"),
        route(f"{ds}/results", list_results, "GET"),
        route(f"{ds}/results/{{result_id}}", get_result, "GET"),
        route(f"{ds}/results/{{result_id}}/files/{{name}}", result_file, "GET"),
        route(f"{ds}/cross-references", map_cross_reference, "POST"),
        route(f"{ds}/cross-references", list_cross_references, "GET"),
        route(f"{ds}/code-tables", code_tables, "GET"),
        route(f"{ds}/registrations/{{cons_id}}/resolve", resolve_registration, "POST"),
        route(f"{ds}/rnr-matches/{{cons_id}}", rnr_match, "PUT"),
        route(f"{ds}/rnr-matches/{{cons_id}}", rnr_match, "DELETE"),
        route(f"{ds}/pledge-payments/{{transaction_id}}", pledge_payment, "PUT"),
        route(f"{ds}/settlements/{{transaction_id}}", settlement, "PUT"),
        route("/constituents/{cons_id}/view", view_profile, "POST"),
        route("/groups", add_group, "POST"),
        route("/groups", list_groups, "GET"),
        route("/groups/{group_id}/members", add_members, "POST"),
        route("/groups/{group_id}/offline-segment", map_segment, "PUT"),
    ]
