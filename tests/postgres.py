"""A real PostgreSQL server for tests: Debian's PostgreSQL 15 binaries, a throw-away cluster made
with initdb in a temporary folder, on a free loopback port, run as the ``postgres`` user (the
server refuses to run as root). Can be stopped and restarted on the same data and port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .peers import free_port, wait_port

BIN = Path("/usr/lib/postgresql/15/bin")


def available() -> bool:
    """Whether the PostgreSQL 15 server binaries are installed."""
    return (BIN / "initdb").exists()


class Postgres:
    """A PostgreSQL server on 127.0.0.1:``port`` with trust authentication (user ``postgres``,
    database ``postgres``)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="camera-bridge-pg-"))
        self.data = self.dir / "data"
        self._as_postgres = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(BIN / "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8")

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: object) -> None:
        subprocess.run([*self._as_postgres, *map(str, args)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def start(self) -> None:
        """Start the server and wait for its port."""
        self._run(BIN / "pg_ctl", "-D", self.data, "-l", self.dir / "server.log", "-w", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
                  "start")
        wait_port(self.port)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast`` disconnects clients; ``immediate`` is a crash)."""
        self._run(BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def close(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def running() -> Iterator[Postgres]:
    """A started server for a module's tests (``with postgres.running() as server: yield server``
    in a fixture), removed afterwards."""
    server = Postgres()
    server.start()
    try:
        yield server
    finally:
        server.close()


def fresh_database(pg: Postgres, name: str | None = None) -> str:
    """A new empty database on ``pg`` (each test its own cluster: a test's bridges never see
    another's rows); its URL. ``name`` defaults to a random one."""
    import asyncpg

    name = name or f"t{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await asyncpg.connect(pg.dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return pg.dsn.rsplit("/", 1)[0] + f"/{name}"


@dataclass
class Database:
    """One test's database (``dsn``) on the module's ``server``; ``stop``/``start`` restart that
    server (the database survives)."""

    server: Postgres
    dsn: str

    def stop(self, mode: str = "fast") -> None:
        self.server.stop(mode)

    def start(self) -> None:
        self.server.start()


async def cluster_schema(conn: Any) -> None:
    """Create the cluster's tables (leases, lease log, members, shared cameras, timelapses) on ``conn``, as a
    bridge does when it joins."""
    from bridge.cluster import lease
    from bridge.cluster.cameras import SharedCameras
    from bridge.timelapse.shared import SCHEMA as TIMELAPSES

    await conn.execute(lease.SCHEMA)
    await SharedCameras(conn).setup()
    await conn.execute(TIMELAPSES)


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """Stop a member or bridge process: resumed if paused, SIGTERM, then SIGKILL after 10 s."""
    import signal

    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
