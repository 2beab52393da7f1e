"""The FTP client of the ``shortname_ds`` account: the standard library's :mod:`ftplib` run on
worker threads, its errors turned into the engine's.

One :class:`FtpSession` is one login; every blocking call runs in
:func:`anyio.to_thread.run_sync`. Paths are relative to the account's home (``upload/x.csv``),
so the client never changes folder and works wherever the server puts the home.

Errors (messages name the server and what was being done, never the password):

* the server cannot be reached, the connection drops or a command times out, or a ``4xx``
  reply (``421`` service not available, ``450`` file busy...): :class:`TransientError`, with
  the wait the server asked for when its reply says one ("try again in 7 seconds");
* a refused login (``530``): :class:`PermanentError` "refused the login of mysite_ds";
* any other ``5xx`` reply (no such file or folder, permission): :class:`PermanentError`.
"""

from __future__ import annotations

import ftplib
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import BinaryIO, Final, TypeVar

import anyio

from syncframe.components import PermanentError, TransientError
from syncframe_re_connector.settings import LuminateFtpSettings

__all__ = ["FtpClient", "FtpSession", "RangeReader", "ftp_error"]

T = TypeVar("T")

#: A reply that says when to come back: "try again in 7 seconds".
_WAIT: Final = re.compile(r"\b(?:in|after)\s+(\d+(?:\.\d+)?)\s*(?:s|sec|secs|seconds?)\b", re.I)
_BLOCK: Final = 64 * 1024


def ftp_error(exc: BaseException, settings: LuminateFtpSettings, what: str) -> Exception:
    """The engine's error for an :mod:`ftplib` or socket error while doing ``what``."""
    server = f"the FTP server {settings.address}"
    if isinstance(exc, ftplib.error_temp):
        reply = str(exc).strip()
        wait = _WAIT.search(reply)
        return TransientError(
            f"{server}: {what}: {reply}", retry_after=float(wait.group(1)) if wait else None
        )
    if isinstance(exc, ftplib.error_perm):
        reply = str(exc).strip()
        if reply.startswith("530"):
            return PermanentError(
                f"{server} refused the login of {settings.user}: {reply} (check the account's "
                "password and that the account is not locked)"
            )
        return PermanentError(f"{server}: {what}: {reply}")
    if isinstance(exc, ftplib.error_reply | ftplib.error_proto | EOFError):
        return TransientError(f"{server}: {what}: unexpected answer: {exc}")
    if isinstance(exc, TimeoutError):
        return TransientError(f"{server}: {what}: no answer in time")
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        return TransientError(f"{server} is not reachable ({what}): {reason}")
    return PermanentError(f"{server}: {what}: {type(exc).__name__}: {exc}")


class RangeReader:
    """``head`` then bytes ``[start, end)`` of a file, read as one stream (what STOR sends)."""

    def __init__(self, head: bytes, path: Path | None, start: int, end: int) -> None:
        self._head = head
        self._path = path
        self._start = start
        self._left = max(0, end - start)
        self._file: BinaryIO | None = None

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = _BLOCK
        if self._head:
            chunk, self._head = self._head[:size], self._head[size:]
            return chunk
        if self._left <= 0 or self._path is None:
            return b""
        if self._file is None:
            self._file = self._path.open("rb")
            self._file.seek(self._start)
        chunk = self._file.read(min(size, self._left))
        if not chunk:
            raise PermanentError(
                f"{self._path} ends before byte {self._start + self._left}: the staged file "
                "was cut short outside syncframe"
            )
        self._left -= len(chunk)
        return chunk

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class FtpSession:
    """One logged-in FTP connection; every method runs its commands on a worker thread."""

    def __init__(self, ftp: ftplib.FTP, settings: LuminateFtpSettings) -> None:
        self._ftp = ftp
        self.settings = settings

    async def _call(self, what: str, function: Callable[[], T]) -> T:
        def guarded() -> T:
            try:
                return function()
            except (ftplib.Error, OSError, EOFError) as exc:
                raise ftp_error(exc, self.settings, what) from None

        return await anyio.to_thread.run_sync(guarded)

    async def check_folder(self, folder: str) -> None:
        """Make sure ``folder`` exists in the account's home (``PermanentError`` if not)."""

        def change() -> None:
            home = self._ftp.pwd()
            self._ftp.cwd(folder)
            self._ftp.cwd(home)

        await self._call(f"opening the folder /{folder}/", change)

    async def names(self, folder: str) -> list[str]:
        """The names of the files in ``folder`` (no paths), sorted."""

        def listing() -> list[str]:
            try:
                found = self._ftp.nlst(folder)
            except ftplib.error_perm as exc:
                # Some servers answer an empty folder's NLST with 550 "No files found".
                if str(exc).startswith("550") and "no files" in str(exc).lower():
                    return []
                raise
            return sorted({name.rstrip("/").rsplit("/", 1)[-1] for name in found} - {".", ".."})

        return await self._call(f"listing /{folder}/", listing)

    async def upload(self, folder: str, name: str, data: bytes | RangeReader) -> None:
        """Store ``data`` as ``folder/name`` (replacing a file of that name)."""

        def store() -> None:
            source = data if isinstance(data, RangeReader) else RangeReader(data, None, 0, 0)
            try:
                self._ftp.storbinary(f"STOR {folder}/{name}", source, blocksize=_BLOCK)
            finally:
                source.close()

        await self._call(f"uploading /{folder}/{name}", store)

    async def download(self, folder: str, name: str, target: Path) -> int:
        """Copy ``folder/name`` into the local file ``target``; its size in bytes."""

        def fetch() -> int:
            partial = target.with_name(target.name + ".part")
            with partial.open("wb") as out:
                self._ftp.retrbinary(f"RETR {folder}/{name}", out.write, blocksize=_BLOCK)
            partial.replace(target)
            return target.stat().st_size

        return await self._call(f"downloading /{folder}/{name}", fetch)

    async def delete(self, folder: str, name: str) -> bool:
        """Delete ``folder/name``; ``False`` when it was not there."""

        def remove() -> bool:
            try:
                self._ftp.delete(f"{folder}/{name}")
            except ftplib.error_perm as exc:
                if str(exc).startswith("550"):
                    return False  # already gone: deleting is idempotent
                raise
            return True

        return await self._call(f"deleting /{folder}/{name}", remove)


class FtpClient:
    """Opens sessions on the ``shortname_ds`` account with a timeout per command."""

    def __init__(self, settings: LuminateFtpSettings, timeout: float) -> None:
        self.settings = settings
        self.timeout = timeout

    @asynccontextmanager
    async def session(self) -> AsyncIterator[FtpSession]:
        """Connect and log in; log out (or drop the connection) when done."""
        settings = self.settings

        def connect() -> ftplib.FTP:
            ftp = ftplib.FTP(timeout=self.timeout, encoding="utf-8")
            try:
                ftp.connect(settings.host, settings.port)
                ftp.login(settings.user, settings.password.get_secret_value())
            except BaseException:
                ftp.close()
                raise
            return ftp

        def opened() -> ftplib.FTP:
            try:
                return connect()
            except (ftplib.Error, OSError, EOFError) as exc:
                raise ftp_error(exc, settings, f"logging in as {settings.user}") from None

        ftp = await anyio.to_thread.run_sync(opened)
        try:
            yield FtpSession(ftp, settings)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_quit, ftp)


def _quit(ftp: ftplib.FTP) -> None:
    try:
        ftp.quit()
    except (ftplib.Error, OSError, EOFError):
        ftp.close()
