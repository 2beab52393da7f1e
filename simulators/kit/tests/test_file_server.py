"""The loopback FTP server the RE connector exchange runs through."""

from __future__ import annotations

import ftplib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from syncframe_simulators.file_server import EXCHANGE_FOLDERS, FileServer


@pytest.fixture
def server() -> Iterator[FileServer]:
    with FileServer() as running:
        running.add_account("mysite_ds", "s3cret")
        yield running


def login(server: FileServer, password: str = "s3cret") -> ftplib.FTP:
    ftp = ftplib.FTP(timeout=10)
    ftp.connect(server.host, server.port)
    ftp.login("mysite_ds", password)
    return ftp


def test_an_account_home_has_the_exchange_folders(server: FileServer) -> None:
    home = server.home("mysite_ds")
    assert sorted(p.name for p in home.iterdir()) == sorted(EXCHANGE_FOLDERS)
    with login(server) as ftp:
        assert sorted(ftp.nlst()) == sorted(EXCHANGE_FOLDERS)


def test_files_go_up_come_down_and_are_deleted_over_a_real_socket(server: FileServer) -> None:
    with login(server) as ftp:
        ftp.storbinary("STOR upload/a.csv", io.BytesIO(b"MEMBER_ID\r\n7\r\n"))
        ftp.storbinary("STOR upload/a.manifest", io.BytesIO(b""))
        assert sorted(ftp.nlst("upload")) == ["a.csv", "a.manifest"]
        got = io.BytesIO()
        ftp.retrbinary("RETR upload/a.csv", got.write)
        assert got.getvalue() == b"MEMBER_ID\r\n7\r\n"
        ftp.delete("upload/a.manifest")
    upload = server.home("mysite_ds") / "upload"
    assert [p.name for p in upload.iterdir()] == ["a.csv"]


def test_a_wrong_password_and_refused_logins_are_530(server: FileServer) -> None:
    for password, refused in (("wrong", False), ("s3cret", True)):
        server.refuse_logins = refused
        with ftplib.FTP(timeout=10) as ftp:
            ftp.connect(server.host, server.port)
            with pytest.raises(ftplib.error_perm, match=r"^530"):
                ftp.login("mysite_ds", password)
    server.refuse_logins = False
    login(server).quit()


def test_stop_closes_the_port_and_removes_its_own_root() -> None:
    server = FileServer()
    server.add_account("mysite_ds", "s3cret")
    server.start()
    root, port = server.root, server.port
    login(server).quit()
    server.stop()
    assert not root.exists()
    with pytest.raises(ConnectionRefusedError):
        ftplib.FTP().connect("127.0.0.1", port, timeout=2)


def test_a_given_root_is_kept(tmp_path: Path) -> None:
    with FileServer(tmp_path) as server:
        server.add_account("x_ds", "pw")
    assert (tmp_path / "x_ds" / "upload").is_dir()
    with pytest.raises(KeyError, match="no FTP account 'y_ds'"):
        server.home("y_ds")
