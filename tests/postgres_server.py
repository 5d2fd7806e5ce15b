"""A throw-away PostgreSQL server for the tests and benchmarks/storage.py: the one ACCELPLAN_POSTGRES_URL names
(.ci/run starts it), else one started here with initdb/pg_ctl on 127.0.0.1 (a free port, a temporary data
folder, as the ``postgres`` user when run as root: PostgreSQL refuses to run as root)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

def pg_tool(name: str) -> str | None:
    """The path of a PostgreSQL program (initdb, pg_ctl): on PATH, else in Debian's /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    return str(candidates[0]) if candidates else None


def missing() -> str | None:
    """Why no server can be started here (None when initdb and pg_ctl are found and a non-root user runs them)."""
    if not (pg_tool("initdb") and pg_tool("pg_ctl")):
        return ("initdb/pg_ctl not found (Debian package postgresql; .ci/run installs it and sets "
                "ACCELPLAN_POSTGRES_URL)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and no postgres user to run the server as"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextlib.contextmanager
def started_server(database: str = "accelplan") -> Iterator[str]:
    """Start a server with a fresh data folder and one database; yield its URL; stop it and remove the folder."""
    folder = Path(tempfile.mkdtemp(prefix="accelplan-pg-"))
    data, port = folder / "data", _free_port()
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    try:
        initdb = [pg_tool("initdb"), "-D", str(data), "-U", "accelplan", "-A", "trust", "-E", "UTF8", "--no-sync"]
        subprocess.run(_as_server_user(initdb), check=True, capture_output=True)
        options = f"-h 127.0.0.1 -p {port} -k {folder} -c max_connections=100"
        subprocess.run(_as_server_user([pg_tool("pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w",
                                        "-o", options, "start"]), check=True, capture_output=True)
        url = f"postgresql://accelplan@127.0.0.1:{port}/{database}"
        _create_database(port, database)
        yield url
    finally:
        if data.exists():
            subprocess.run(_as_server_user([pg_tool("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                           capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def _connect(host: str, port: int, user: str, password: str | None, dbname: str):
    import psycopg

    for _ in range(50):  # the server may take a moment to accept TCP connections
        try:
            return psycopg.connect(host=host, port=port, user=user, password=password, dbname=dbname, autocommit=True)
        except psycopg.OperationalError:
            time.sleep(0.1)
    raise RuntimeError(f"PostgreSQL on {host}:{port} does not accept connections")


def _create_database(port: int, database: str) -> None:
    with _connect("127.0.0.1", port, "accelplan", None, "postgres") as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
