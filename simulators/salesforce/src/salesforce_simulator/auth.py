"""Users, connected apps and sessions: the OAuth 2.0 token endpoint's flows and bearer tokens.

Flows (``POST /services/oauth2/token``, form-encoded):

* ``password``: a connected app's ``client_id``/``client_secret`` and a user's ``username``
  and ``password`` (followed by the user's security token when one is set);
* ``client_credentials``: the app's id and secret (form fields or HTTP Basic); the session runs
  as the app's "Run As" user;
* ``authorization_code``: a code the admin API hands out in place of the browser step of the
  web-server flow (a user approving the app); it is the flow that issues a refresh token;
* ``refresh_token``: a new access token for a refresh token.

Access tokens look like Salesforce's (``00D...!AQ...``), drawn from the simulator's seeded
generator. A session expires after ``session_timeout`` without a call (each call restarts it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import random
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from pydantic import SecretStr

from salesforce_simulator.errors import invalid_session
from salesforce_simulator.ids import IdMinter
from syncframe.clock import Clock

__all__ = [
    "DEFAULT_SESSION_TIMEOUT",
    "AuthorizationCode",
    "ConnectedApp",
    "Identity",
    "LoginFailed",
    "OAuthError",
    "Session",
    "User",
    "token_signature",
]

#: Salesforce's default session timeout (Setup > Session Settings).
DEFAULT_SESSION_TIMEOUT: Final = timedelta(hours=2)
#: How long an authorization code may be exchanged for tokens.
AUTHORIZATION_CODE_LIFETIME: Final = timedelta(minutes=15)
#: The user the admin API's "UI edits" are made by.
ADMIN_USERNAME: Final = "admin@syncframe.example"

_TOKEN_ALPHABET: Final = string.ascii_letters + string.digits + "._"

GrantKind = Literal[
    "password", "client_credentials", "authorization_code", "refresh_token", "soap", "admin"
]


class OAuthError(Exception):
    """A refusal of the token endpoint: ``{"error", "error_description"}`` with ``status``."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def to_json(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class LoginFailed(Exception):
    """A SOAP ``login`` refused: ``INVALID_LOGIN``."""


@dataclass
class User:
    """A Salesforce user (the password and security token never leave the simulator)."""

    id: str
    username: str
    name: str
    password: SecretStr | None
    security_token: SecretStr | None

    def accepts(self, given: str) -> bool:
        """Whether ``given`` logs this user in: the password, followed by the security token
        when the user has one (a login from outside the org's trusted IP ranges)."""
        if self.password is None:
            return False
        expected = self.password.get_secret_value()
        if self.security_token is not None:
            expected += self.security_token.get_secret_value()
        return hmac.compare_digest(given.encode(), expected.encode())

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "name": self.name,
            "can_log_in": self.password is not None,
        }


@dataclass
class ConnectedApp:
    """A connected app: its consumer key (``client_id``) and secret, and for the client
    credentials flow the user it runs as."""

    client_id: str
    client_secret: SecretStr
    name: str
    run_as: str | None

    def to_json(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "name": self.name, "run_as": self.run_as}


@dataclass
class Session:
    """An access token and whose it is."""

    access_token: str
    user_id: str
    client_id: str | None
    grant: GrantKind
    issued_at: datetime
    last_used: datetime
    refresh_token: str | None = None

    def to_json(self, timeout: timedelta) -> dict[str, Any]:
        return {
            "access_token": self.access_token[:12] + "...",
            "user_id": self.user_id,
            "client_id": self.client_id,
            "grant": self.grant,
            "issued_at": self.issued_at,
            "expires_at": self.last_used + timeout,
        }


@dataclass
class AuthorizationCode:
    code: str
    user_id: str
    client_id: str
    expires: datetime


@dataclass
class _RefreshGrant:
    token: str
    user_id: str
    client_id: str


def token_signature(client_secret: str, identity_url: str, issued_at: str) -> str:
    """The ``signature`` of a token response: base64 HMAC-SHA256 of the identity URL followed
    by ``issued_at``, keyed with the client secret (clients use it to check the response)."""
    digest = hmac.new(
        client_secret.encode(), (identity_url + issued_at).encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


@dataclass
class Identity:
    """The org's users, connected apps, sessions, refresh tokens and authorization codes."""

    clock: Clock
    rng: random.Random
    org_id: str
    session_timeout: timedelta = DEFAULT_SESSION_TIMEOUT
    users: dict[str, User] = field(default_factory=dict)
    apps: dict[str, ConnectedApp] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    _usernames: dict[str, str] = field(default_factory=dict)
    _refresh: dict[str, _RefreshGrant] = field(default_factory=dict)
    _codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    _user_ids: IdMinter = field(default_factory=lambda: IdMinter("005", start=62**4))

    def __post_init__(self) -> None:
        self.admin = self.add_user(ADMIN_USERNAME, name="Admin User")

    def clear(self) -> None:
        """Back to an org with only its admin user."""
        self.users.clear()
        self.apps.clear()
        self.sessions.clear()
        self._usernames.clear()
        self._refresh.clear()
        self._codes.clear()
        self._user_ids.restart(62**4)
        self.admin = self.add_user(ADMIN_USERNAME, name="Admin User")

    # -- users and apps ----------------------------------------------------------------------

    def add_user(
        self,
        username: str,
        password: SecretStr | None = None,
        *,
        security_token: SecretStr | None = None,
        name: str | None = None,
    ) -> User:
        """Add a user; ``ValueError`` naming the field for a bad or taken username."""
        if "@" not in username or username != username.strip():
            raise ValueError(f"username: {username!r} is not an email-style username")
        if username.lower() in self._usernames:
            raise ValueError(f"username: {username!r} is already taken")
        user = User(
            self._user_ids.mint(),
            username,
            name or username.split("@", 1)[0],
            password,
            security_token,
        )
        self.users[user.id] = user
        self._usernames[username.lower()] = user.id
        return user

    def forget_user(self, user_id: str) -> None:
        """Remove a user and its sessions (a seed that failed half-way)."""
        user = self.users.pop(user_id)
        del self._usernames[user.username.lower()]
        for token, session in list(self.sessions.items()):
            if session.user_id == user_id:
                del self.sessions[token]

    def user_named(self, username: str) -> User | None:
        user_id = self._usernames.get(username.lower())
        return self.users[user_id] if user_id is not None else None

    def add_app(
        self,
        client_id: str,
        client_secret: SecretStr,
        *,
        name: str | None = None,
        run_as: str | None = None,
    ) -> ConnectedApp:
        """Add a connected app; ``run_as`` is the username client-credentials sessions use."""
        if not client_id:
            raise ValueError("client_id: must not be empty")
        if client_id in self.apps:
            raise ValueError(f"client_id: {client_id!r} is already a connected app")
        run_as_id = None
        if run_as is not None:
            user = self.user_named(run_as)
            if user is None:
                raise ValueError(f"run_as: there is no user {run_as!r}")
            run_as_id = user.id
        app = ConnectedApp(client_id, client_secret, name or client_id, run_as_id)
        self.apps[client_id] = app
        return app

    # -- tokens ------------------------------------------------------------------------------

    def _token(self) -> str:
        random_part = "".join(self.rng.choices(_TOKEN_ALPHABET, k=96))
        return f"{self.org_id[:15]}!AQ{random_part}"

    def new_session(
        self,
        user: User,
        client_id: str | None,
        grant: GrantKind,
        *,
        refresh_token: str | None = None,
    ) -> Session:
        now = self.clock.now()
        session = Session(self._token(), user.id, client_id, grant, now, now, refresh_token)
        self.sessions[session.access_token] = session
        return session

    def authenticate(self, access_token: str) -> Session:
        """The live session of ``access_token`` (its timeout restarts); 401 otherwise."""
        session = self.sessions.get(access_token)
        if session is None:
            raise invalid_session()
        now = self.clock.now()
        if now - session.last_used > self.session_timeout:
            del self.sessions[access_token]
            raise invalid_session()
        session.last_used = now
        return session

    def revoke(self, token: str) -> bool:
        """Revoke an access token, or a refresh token and every session it made."""
        if self.sessions.pop(token, None) is not None:
            return True
        if self._refresh.pop(token, None) is None:
            return False
        for access_token, session in list(self.sessions.items()):
            if session.refresh_token == token:
                del self.sessions[access_token]
        return True

    def revoke_all(self) -> int:
        """End every session (refresh tokens stay valid); returns how many ended."""
        ended = len(self.sessions)
        self.sessions.clear()
        return ended

    def authorize(self, client_id: str, username: str) -> AuthorizationCode:
        """What a user approving a connected app in the browser produces: a one-time code."""
        app = self.apps.get(client_id)
        if app is None:
            raise ValueError(f"client_id: there is no connected app {client_id!r}")
        user = self.user_named(username)
        if user is None:
            raise ValueError(f"username: there is no user {username!r}")
        code = AuthorizationCode(
            "aPrx" + "".join(self.rng.choices(_TOKEN_ALPHABET[:62], k=60)),
            user.id,
            app.client_id,
            self.clock.now() + AUTHORIZATION_CODE_LIFETIME,
        )
        self._codes[code.code] = code
        return code

    # -- the token endpoint ------------------------------------------------------------------

    def grant(self, form: Mapping[str, str], authorization: str | None) -> Session:
        """Carry out a token request; :class:`OAuthError` with Salesforce's error otherwise."""
        grant_type = form.get("grant_type", "")
        if grant_type == "password":
            app = self._client(form, authorization)
            user = self.user_named(form.get("username", ""))
            if user is None or not user.accepts(form.get("password", "")):
                raise OAuthError("invalid_grant", "authentication failure")
            return self.new_session(user, app.client_id, "password")
        if grant_type == "client_credentials":
            app = self._client(form, authorization)
            if app.run_as is None:
                raise OAuthError("invalid_grant", "no client credentials user enabled")
            return self.new_session(self.users[app.run_as], app.client_id, "client_credentials")
        if grant_type == "authorization_code":
            app = self._client(form, authorization)
            code = self._codes.pop(form.get("code", ""), None)
            if code is None or code.client_id != app.client_id or code.expires < self.clock.now():
                raise OAuthError("invalid_grant", "invalid authorization code")
            refresh = _RefreshGrant(self._token(), code.user_id, app.client_id)
            self._refresh[refresh.token] = refresh
            return self.new_session(
                self.users[code.user_id],
                app.client_id,
                "authorization_code",
                refresh_token=refresh.token,
            )
        if grant_type == "refresh_token":
            app = self._client(form, authorization, secret_required=False)
            held = self._refresh.get(form.get("refresh_token", ""))
            if held is None or held.client_id != app.client_id:
                raise OAuthError("invalid_grant", "expired access/refresh token")
            session = self.new_session(self.users[held.user_id], app.client_id, "refresh_token")
            session.refresh_token = held.token  # revoking the refresh token ends it too
            return session
        raise OAuthError("unsupported_grant_type", "grant type not supported")

    def _client(
        self, form: Mapping[str, str], authorization: str | None, *, secret_required: bool = True
    ) -> ConnectedApp:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization is not None and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise OAuthError("invalid_client", "invalid client credentials") from None
            client_id, _, secret = decoded.partition(":")
        app = self.apps.get(client_id or "")
        if app is None:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if secret is None and not secret_required:
            return app
        if not hmac.compare_digest(
            (secret or "").encode(), app.client_secret.get_secret_value().encode()
        ):
            raise OAuthError("invalid_client", "invalid client credentials")
        return app

    def soap_login(self, username: str, password: str) -> Session:
        """The SOAP API's ``login`` call; :class:`LoginFailed` for a bad username or password."""
        user = self.user_named(username)
        if user is None or not user.accepts(password):
            raise LoginFailed("Invalid username, password, security token; or user locked out.")
        return self.new_session(user, None, "soap")
