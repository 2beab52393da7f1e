"""What the connector finds in a flow file: its own connection, its flows, its state folder.

A flow file configures the connector with ordinary connections and flows (``docs/re-connector.md``):

* one connection of system ``re_connector`` (the Operation File Name, the optional API key);
* the **upload flows**: every enabled flow whose sink is ``luminate_upload`` (at most one per
  upload file), run in file order when Luminate calls ``/re-connector/upload``;
* the **download flows**: every enabled flow whose source is ``luminate_download``, run when
  Luminate calls ``/re-connector/download``.

Their components must share one state folder and one ``luminate_ftp`` connection; what is wrong
is listed in :attr:`ConnectorSetup.problems`, each naming the key to change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from syncframe.config import LoadedConfig
from syncframe_re_connector.files import UploadFile
from syncframe_re_connector.ftp import FtpClient
from syncframe_re_connector.settings import (
    CONNECTOR_SYSTEM,
    LuminateFtpSettings,
    ReConnectorSettings,
)
from syncframe_re_connector.upload_sink import UploadOptions

__all__ = [
    "DOWNLOAD_SOURCE",
    "UPLOAD_SINK",
    "ConnectorSetup",
    "UploadFlow",
]

#: The component types that make a flow part of the connector.
UPLOAD_SINK: Final = "luminate_upload"
DOWNLOAD_SOURCE: Final = "luminate_download"


@dataclass(frozen=True, slots=True)
class UploadFlow:
    """An upload flow and the file it fills."""

    name: str
    file: UploadFile


@dataclass(slots=True)
class ConnectorSetup:
    """The connector as a loaded flow file configures it."""

    config: LoadedConfig
    connection: str | None = None
    settings: ReConnectorSettings | None = None
    uploads: list[UploadFlow] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)
    folder: Path | None = None
    ftp_connection: str | None = None
    ftp: LuminateFtpSettings | None = None
    ftp_timeout: float = 30.0
    problems: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, config: LoadedConfig) -> ConnectorSetup:
        """Read the connector's parts out of ``config``."""
        setup = cls(config)
        setup._find_connection()
        setup._find_flows()
        return setup

    @property
    def shortname(self) -> str | None:
        """The site's short name: the connector's ``site_shortname``, else the FTP account's."""
        if self.settings is not None and self.settings.site_shortname:
            return self.settings.site_shortname
        return self.ftp.shortname if self.ftp is not None else None

    def ftp_client(self) -> FtpClient | None:
        """A client of the connector's FTP account (``None`` when the file names none)."""
        return None if self.ftp is None else FtpClient(self.ftp, self.ftp_timeout)

    def _find_connection(self) -> None:
        found = [
            (name, c)
            for name, c in self.config.connections.items()
            if c.system.name == CONNECTOR_SYSTEM
        ]
        if not found:
            self.problems.append(
                f"{self.config.path.name} has no connection of system {CONNECTOR_SYSTEM!r}: add "
                f'[connections.re_connector] with system = "{CONNECTOR_SYSTEM}" and the '
                "operation_file_name of Luminate's data sync operation"
            )
            return
        if len(found) > 1:
            names = ", ".join(name for name, _ in found)
            self.problems.append(
                f"{self.config.path.name} has {len(found)} connections of system "
                f"{CONNECTOR_SYSTEM!r} ({names}); one flow file serves one connector"
            )
        name, connection = found[0]
        assert isinstance(connection.settings, ReConnectorSettings)
        self.connection, self.settings = name, connection.settings

    def _find_flows(self) -> None:
        folders: dict[Path, str] = {}
        ftps: dict[str, str] = {}
        for name, flow in self.config.flows.items():
            if not flow.config.enabled:
                continue
            parts = []
            if flow.sink.component.name == UPLOAD_SINK:
                parts.append(flow.sink)
                options = flow.sink.options
                assert isinstance(options, UploadOptions)
                file = options.file
                earlier = next((u for u in self.uploads if u.file == file), None)
                if earlier is not None:
                    self.problems.append(
                        f"flows {earlier.name} and {name} both fill the {file} file; give each "
                        "upload file one flow"
                    )
                else:
                    self.uploads.append(UploadFlow(name, file))
            if flow.source.component.name == DOWNLOAD_SOURCE:
                parts.append(flow.source)
                self.downloads.append(name)
            for part in parts:
                folder = str(getattr(part.options, "folder", ""))
                path = (self.config.base_dir / Path(folder).expanduser()).resolve()
                folders.setdefault(path, part.path)
                if part.connection is not None:
                    ftps.setdefault(part.connection.name, part.path)
                    if self.ftp is None and isinstance(
                        part.connection.settings, LuminateFtpSettings
                    ):
                        self.ftp_connection = part.connection.name
                        self.ftp = part.connection.settings
                        self.ftp_timeout = part.connection.config.timeout
        if len(folders) > 1:
            shown = "; ".join(f"{where}.folder = {path}" for path, where in folders.items())
            self.problems.append(
                f"the connector's flows name different state folders ({shown}); give them "
                "all the same folder"
            )
        if len(ftps) > 1:
            shown = "; ".join(f"{where}.connection = {name}" for name, where in ftps.items())
            self.problems.append(
                f"the connector's flows use different FTP connections ({shown}); one site has "
                "one shortname_ds account"
            )
        if folders:
            self.folder = next(iter(folders))
