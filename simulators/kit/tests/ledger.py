"""A small simulator the kit's tests run: a JSON ledger API with bearer-token authentication.

``GET /accounts``, ``POST /accounts``, ``GET /accounts/{id}``, ``POST /accounts/{id}/entries``
(each answers 401 without ``Authorization: Bearer <token>``); operation names ``ListAccounts``,
``CreateAccount``, ``GetAccount``, ``PostEntry``; an admin route
``POST /_admin/ledger/accounts/{id}/freeze``. Registered as simulator ``ledger`` by this
module's hook (load it with ``SYNCFRAME_PLUGINS_EXTRA=simulators.kit.tests.ledger``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp
from syncframe_simulators import Simulator, json_response, read_json

from syncframe import hookimpl
from syncframe.clock import Clock
from syncframe.registry import SimulatorRegistrar

TOKEN = "ledger-token"


class AccountSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    balance: Decimal = Decimal(0)


class LedgerSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accounts: list[AccountSeed] = []


class LedgerSimulator(Simulator):
    """A JSON ledger: accounts with balances and dated entries."""

    name: ClassVar[str] = "ledger"

    def __init__(self, *, clock: Clock | None = None, seed: int = 0, journal_size: int = 10_000):
        super().__init__(clock=clock, seed=seed, journal_size=journal_size)
        self.accounts: dict[int, dict[str, Any]] = {}
        self.entries: list[dict[str, Any]] = []

    # -- state --
    def _create(self, name: str, balance: Decimal) -> dict[str, Any]:
        account_id = len(self.accounts) + 1
        account: dict[str, Any] = {
            "id": account_id,
            "name": name,
            "balance": balance,
            "frozen": False,
            "created_at": self.clock.now(),
        }
        self.accounts[account_id] = account
        return account

    def snapshot(self) -> dict[str, Any]:
        return {"accounts": list(self.accounts.values()), "entries": list(self.entries)}

    def seed_records(self, payload: dict[str, Any]) -> dict[str, Any]:
        seed = LedgerSeed.model_validate(payload)
        made = [self._create(a.name, a.balance)["id"] for a in seed.accounts]
        return {"accounts": made}

    def reset(self) -> None:
        self.accounts.clear()
        self.entries.clear()

    # -- the imitated API --
    def _account(self, request: Request) -> dict[str, Any]:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            raise HTTPException(401, "invalid token")
        account = self.accounts.get(int(request.path_params["account_id"]))
        if account is None:
            raise HTTPException(404, "no such account")
        return account

    def _authorised(self, request: Request) -> None:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            raise HTTPException(401, "invalid token")

    def api_routes(self) -> list[BaseRoute]:
        async def accounts(request: Request) -> Response:
            self._authorised(request)
            if request.method == "GET":
                return json_response({"accounts": list(self.accounts.values())})
            body = await read_json(request)
            account = self._create(str(body["name"]), Decimal(str(body.get("balance", 0))))
            return json_response(account, 201)

        async def account(request: Request) -> Response:
            return json_response(self._account(request))

        async def entries(request: Request) -> Response:
            account = self._account(request)
            if account["frozen"]:
                return JSONResponse({"error": "account is frozen"}, status_code=409)
            amount = Decimal(str((await read_json(request))["amount"]))
            account["balance"] += amount
            entry = {"account": account["id"], "amount": amount, "at": self.clock.now()}
            self.entries.append(entry)
            return json_response(entry, 201)

        return [
            Route("/accounts", accounts, methods=["GET", "POST"]),
            Route("/accounts/{account_id:int}", account, methods=["GET"]),
            Route("/accounts/{account_id:int}/entries", entries, methods=["POST"]),
        ]

    def api_app(self) -> ASGIApp:
        """The routes with the ledger's own answer to a body it cannot read."""

        async def bad_body(request: Request, exc: Exception) -> Response:
            return JSONResponse({"error": str(exc)}, status_code=400)

        return Starlette(routes=self.api_routes(), exception_handlers={ValueError: bad_body})

    def admin_routes(self) -> list[BaseRoute]:
        async def freeze(request: Request) -> Response:
            account = self.accounts.get(int(request.path_params["account_id"]))
            if account is None:
                raise HTTPException(404, f"no account {request.path_params['account_id']}")
            account["frozen"] = True
            return json_response(account)

        return [Route("/ledger/accounts/{account_id:int}/freeze", freeze, methods=["POST"])]

    async def operation_of(self, request: Request) -> str | None:
        path = request.url.path
        if path == "/accounts":
            return "ListAccounts" if request.method == "GET" else "CreateAccount"
        if path.endswith("/entries"):
            return "PostEntry"
        if path.startswith("/accounts/"):
            return "GetAccount"
        return None


def make_ledger(*, clock: Clock | None = None, seed: int = 0) -> LedgerSimulator:
    """A JSON ledger with bearer-token auth (the kit's test simulator)."""
    return LedgerSimulator(clock=clock, seed=seed)


@hookimpl
def syncframe_register_simulators(register: SimulatorRegistrar) -> None:
    register("ledger", make_ledger)
