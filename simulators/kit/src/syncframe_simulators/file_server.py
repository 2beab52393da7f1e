"""A real FTP server on loopback: the organisation's ``shortname_ds`` file server.

Luminate's data sync and the RE connector exchange CSV files through an FTP account named after
the site (``mysite_ds``). :class:`FileServer` is that server, a real one (pyftpdlib) on
``127.0.0.1`` and a free port, so the connector and the simulators talk FTP over a socket as
they would in production. Each account's home holds the two folders of the exchange:
``upload/`` (connector -> Luminate) and ``download/`` (Luminate -> connector).

Plain FTP: the real service wants explicit TLS, which changes nothing the tests look at, and
loopback traffic never leaves the machine. ``refuse_logins`` is the fault the exchange needs:
every login is answered ``530`` as if the password had been changed.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any, Final

# pyftpdlib runs on the standard library's asyncore, which warns of its removal in 3.12 (where
# pyftpdlib brings its own copy); the warning is not ours to act on.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from pyftpdlib.authorizers import AuthenticationFailed, DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

__all__ = ["EXCHANGE_FOLDERS", "FileServer"]

#: The folders every account's home gets: files for Luminate, files for Raiser's Edge.
EXCHANGE_FOLDERS: Final[tuple[str, ...]] = ("upload", "download")

# Read, list, write, delete, rename, make folders: what the exchange needs, nothing odd.
_PERMISSIONS: Final = "elradfmw"


class _Authorizer(DummyAuthorizer):  # type: ignore[misc]
    """pyftpdlib's in-memory accounts, with a switch that refuses every login."""

    def __init__(self, server: FileServer) -> None:
        super().__init__()
        self._server = server

    def validate_authentication(self, username: str, password: str, handler: object) -> None:
        if self._server.refuse_logins:
            raise AuthenticationFailed("Login incorrect.")
        super().validate_authentication(username, password, handler)


class FileServer:
    """An FTP server on ``127.0.0.1`` serving one home folder per account, on its own thread."""

    def __init__(self, root: Path | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="ftp-")) if root is None else root
        self.root.mkdir(parents=True, exist_ok=True)
        self.host = host
        self._requested_port = port
        self.port = 0
        #: When true, every login is refused with 530 (a changed password, a locked account).
        self.refuse_logins = False
        self._authorizer = _Authorizer(self)
        self._server: FTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def address(self) -> str:
        """``host:port`` as a client would dial it."""
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def add_account(self, user: str, password: str) -> Path:
        """An account whose home has the exchange folders; returns the home's path."""
        home = self.root / user
        for folder in EXCHANGE_FOLDERS:
            (home / folder).mkdir(parents=True, exist_ok=True)
        self._authorizer.add_user(user, password, str(home), perm=_PERMISSIONS)
        return home

    def home(self, user: str) -> Path:
        """The home folder of ``user`` (an account added with :meth:`add_account`)."""
        if not self._authorizer.has_user(user):
            raise KeyError(f"no FTP account {user!r} on this file server")
        return self.root / user

    def start(self) -> None:
        """Listen on the host and a free port (or the one asked for) and serve on a thread."""
        if self._server is not None:
            raise RuntimeError("the file server is already started")
        handler: Any = type("ExchangeHandler", (FTPHandler,), {})
        handler.authorizer = self._authorizer
        handler.banner = "syncframe file server ready."
        handler.timeout = 60
        # pyftpdlib holds a failed login's 530 back 3 s against guessing; tests fail logins often.
        handler.auth_failed_timeout = 0.1
        # pyftpdlib logs every command at INFO, and when its logger has no handler it installs
        # one on the *root* logger; a handler of its own keeps the process's logging as it was.
        ftp_logger = logging.getLogger("pyftpdlib")
        ftp_logger.setLevel(logging.WARNING)
        if not ftp_logger.handlers:
            ftp_logger.addHandler(logging.NullHandler())
        self._server = FTPServer((self.host, self._requested_port), handler)
        self.port = self._server.address[1]
        self._stopping.clear()
        self._thread = threading.Thread(target=self._serve, name=f"ftp:{self.port}", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        assert self._server is not None
        # A short poll so stop() is prompt; the server's own serve_forever cannot be woken (and
        # logs a "starting" line on every call).
        ioloop = self._server.ioloop
        while not self._stopping.is_set():
            ioloop.loop(0.05, blocking=False)

    def stop(self) -> None:
        """Stop serving, close every connection and remove a root this server made."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._server is not None:
            self._server.close_all()
        self._server = None
        self._thread = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> FileServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"ftp://{self.address}" if self.running else "stopped"
        return f"<FileServer {state} root={self.root}>"
