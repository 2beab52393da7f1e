"""Luminate's side of the ``shortname_ds`` FTP exchange (stdlib :mod:`ftplib`, blocking).

A data file ``X.csv`` is complete once its empty ``X.manifest`` is there (uploaded after the
CSV); readers take only CSVs with their manifest. :class:`ExchangeSession` is one logged-in FTP
session; every failure becomes an :class:`FtpProblem` whose message names the server, the
account or the file, for the Operation Results messages. Callers run it on a worker thread.
"""

from __future__ import annotations

import ftplib
import io
import socket
from pathlib import Path
from types import TracebackType
from typing import Final

from luminate_simulator.data_sync_model import FtpAccount

__all__ = ["MANIFEST_SUFFIX", "ExchangeSession", "FtpProblem", "manifest_of"]

MANIFEST_SUFFIX: Final = ".manifest"
_BLOCK: Final = 1 << 16


class FtpProblem(Exception):
    """The FTP exchange failed; ``message`` says where, in words an admin can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def manifest_of(csv_name: str) -> str:
    """``X.manifest`` for ``X.csv``."""
    return csv_name.removesuffix(".csv") + MANIFEST_SUFFIX


class ExchangeSession:
    """One FTP session on the exchange account: list, fetch, store and delete in its folders."""

    def __init__(self, account: FtpAccount) -> None:
        self.account = account
        self._ftp: ftplib.FTP | None = None

    def __enter__(self) -> ExchangeSession:
        account = self.account
        ftp = ftplib.FTP()
        try:
            ftp.connect(account.host, account.port, timeout=account.timeout)
        except (OSError, EOFError, ftplib.Error) as error:
            raise FtpProblem(
                f'Could not connect to the FTP server "{account.address}" ({_reason(error)}).'
            ) from None
        try:
            ftp.login(account.user, account.password.get_secret_value())
        except ftplib.error_perm as error:
            ftp.close()
            raise FtpProblem(
                f'The FTP server "{account.address}" refused the login of account '
                f"{account.user} ({_reason(error)})."
            ) from None
        except (OSError, EOFError, ftplib.Error) as error:
            ftp.close()
            raise FtpProblem(
                f'The FTP server "{account.address}" dropped the login of account '
                f"{account.user} ({_reason(error)})."
            ) from None
        self._ftp = ftp
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        ftp, self._ftp = self._ftp, None
        if ftp is None:
            return
        try:
            ftp.quit()
        except (OSError, EOFError, ftplib.Error):
            ftp.close()  # the server is gone already: nothing to say goodbye to

    @property
    def ftp(self) -> ftplib.FTP:
        if self._ftp is None:
            raise RuntimeError("the FTP session is not open (use it in a with block)")
        return self._ftp

    def files(self, folder: str) -> set[str]:
        """The names of the plain files in ``folder`` (``upload`` or ``download``)."""
        try:
            return {name for name, facts in self.ftp.mlsd(folder) if facts.get("type") == "file"}
        except (OSError, EOFError, ftplib.Error) as error:
            raise self._failed("list the folder", folder, error) from None

    def fetch(self, folder: str, name: str, target: Path) -> None:
        """Copy ``folder/name`` to ``target`` (streamed)."""
        try:
            with target.open("wb") as local:
                self.ftp.retrbinary(f"RETR {folder}/{name}", local.write, blocksize=_BLOCK)
        except (OSError, EOFError, ftplib.Error) as error:
            raise self._failed("download", f"{folder}/{name}", error) from None

    def store(self, folder: str, name: str, source: Path) -> None:
        """Upload ``source`` as ``folder/name`` (streamed)."""
        try:
            with source.open("rb") as local:
                self.ftp.storbinary(f"STOR {folder}/{name}", local, blocksize=_BLOCK)
        except (OSError, EOFError, ftplib.Error) as error:
            raise self._failed("upload", f"{folder}/{name}", error) from None

    def store_manifest(self, folder: str, csv_name: str) -> None:
        """Upload the empty manifest that marks ``folder/csv_name`` complete."""
        name = manifest_of(csv_name)
        try:
            self.ftp.storbinary(f"STOR {folder}/{name}", io.BytesIO(b""))
        except (OSError, EOFError, ftplib.Error) as error:
            raise self._failed("upload", f"{folder}/{name}", error) from None

    def delete(self, folder: str, name: str) -> None:
        """Delete ``folder/name``; a file that is already gone is not an error."""
        try:
            self.ftp.delete(f"{folder}/{name}")
        except ftplib.error_perm as error:
            if str(error).startswith("550"):
                return  # no such file: deleted already (by the connector, or by hand)
            raise self._failed("delete", f"{folder}/{name}", error) from None
        except (OSError, EOFError, ftplib.Error) as error:
            raise self._failed("delete", f"{folder}/{name}", error) from None

    def _failed(self, action: str, what: str, error: BaseException) -> FtpProblem:
        return FtpProblem(
            f'Could not {action} {what} on the FTP server "{self.account.address}" '
            f"({_reason(error)})."
        )


def _reason(error: BaseException) -> str:
    if isinstance(error, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(error, EOFError):
        return "the server closed the connection"
    text = str(error).strip()
    return text or type(error).__name__
