"""Serving a simulator on a real socket with uvicorn: in a thread (tests) or in the foreground
(``syncframe simulate``)."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from types import TracebackType
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp

from syncframe_simulators.admin import SimulatorAdmin
from syncframe_simulators.simulator import ADMIN_PREFIX, Simulator
from syncframe_simulators.transport import SimulatedDisconnect

__all__ = ["RunningServer", "bind_socket", "quiet_simulated_disconnects", "serve_in_thread"]

#: How long a stopping server lets requests still running finish (a hanging ``timeout`` fault
#: whose client stays connected) before it cancels them.
_GRACE_SECONDS = 1


class _SimulatedDisconnectFilter(logging.Filter):
    """uvicorn logs an app exception with its traceback. A simulated disconnect is the fault
    doing its job, and a request cancelled because the server stops is a ``timeout`` fault
    still hanging: each becomes one informational line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, SimulatedDisconnect | asyncio.CancelledError):
            record.msg = (
                "%s (connection dropped on purpose)"
                if isinstance(exc, SimulatedDisconnect)
                else "request cancelled: the simulator server is stopping (%s)"
            )
            record.args = (exc,)
            record.exc_info = None
            record.exc_text = None
            record.levelno = logging.INFO
            record.levelname = logging.getLevelName(logging.INFO)
        return True


_FILTER = _SimulatedDisconnectFilter()


def quiet_simulated_disconnects() -> None:
    """Make uvicorn log a ``disconnect`` fault as one line instead of an error traceback."""
    logger = logging.getLogger("uvicorn.error")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port`` 0: a free one), for uvicorn to serve.

    Raises ``OSError`` with the address in the message when it cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit TCP_NODELAY (Linux): uvicorn writes a response's
        # headers and body separately, and with Nagle's algorithm the body would wait for the
        # client's delayed ACK — 40 ms on every answer.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        # Listening from here on: a client that got the URL (printed before uvicorn's loop
        # starts) waits in the backlog instead of being refused.
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def base_url_of(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class RunningServer:
    """A simulator served by uvicorn on a daemon thread; a context manager that stops it."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, base_url: str) -> None:
        self.server = server
        self.thread = thread
        #: ``http://127.0.0.1:<port>``: where the imitated API answers.
        self.base_url = base_url

    @property
    def admin_url(self) -> str:
        """Where the admin API answers."""
        return self.base_url + ADMIN_PREFIX

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An async client on the socket (the caller closes it)."""
        kwargs.setdefault("base_url", self.base_url)
        return httpx.AsyncClient(**kwargs)

    def admin(self, **kwargs: Any) -> SimulatorAdmin:
        """An admin client on the socket (the caller closes it)."""
        return SimulatorAdmin.for_url(self.base_url, **kwargs)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread to end."""
        if not self.thread.is_alive():
            return
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(timeout)
        if self.thread.is_alive():
            raise RuntimeError(f"the simulator server at {self.base_url} did not stop")

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<RunningServer {self.base_url}>"


def serve_in_thread(
    simulator: Simulator | ASGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    startup_timeout: float = 10.0,
) -> RunningServer:
    """Serve ``simulator`` with uvicorn on a daemon thread; returns once it accepts requests.

    ``port`` 0 picks a free port (see ``.base_url``). Use as a context manager or call
    ``.stop()``.
    """
    app = simulator.app if isinstance(simulator, Simulator) else simulator
    sock = bind_socket(host, port)
    base_url = base_url_of(sock)
    config = uvicorn.Config(
        app,
        log_config=None,  # leave the test process's logging as it is
        log_level="warning",
        access_log=False,
        lifespan="off",
        loop="asyncio",
        http="h11",
        timeout_graceful_shutdown=_GRACE_SECONDS,
    )
    server = uvicorn.Server(config)
    quiet_simulated_disconnects()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported to the caller below, not lost in the thread
            failure.append(exc)
        finally:
            sock.close()

    thread = threading.Thread(target=run, name=f"simulator {base_url}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(startup_timeout)
            reason = f": {failure[0]!r}" if failure else ""
            raise RuntimeError(f"the simulator server at {base_url} did not start{reason}")
        time.sleep(0.005)
    return RunningServer(server, thread, base_url)
