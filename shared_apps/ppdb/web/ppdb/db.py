"""PostgreSQL connections (pg8000): one small pool per worker process.

A gunicorn worker serves ``threads`` requests at once; each borrows a connection for the
request and gives it back at the end (a connection whose request failed is closed instead,
so no broken or half-done transaction is ever lent again). Opening a connection costs a
SCRAM exchange, so reusing them is what keeps the opening-day rush cheap.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pg8000.native

from .config import Config

Row = dict[str, Any]
Connection = pg8000.native.Connection
DB_ERRORS = (pg8000.native.InterfaceError, pg8000.native.DatabaseError, OSError)
# The database cannot be reached (as opposed to a statement it refused): answer 503.
UNREACHABLE = (pg8000.native.InterfaceError, OSError)


def connect(cfg: Config, timeout: float = 10.0) -> Connection:
    return pg8000.native.Connection(
        user=cfg.db_user, password=cfg.db_password, host=cfg.db_host, port=cfg.db_port,
        database=cfg.db_name, timeout=timeout, application_name="ppdb",
    )  # fmt: skip


def wait_for_db(cfg: Config, timeout_s: float = 90.0, log: Any = None) -> Connection:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return connect(cfg, timeout=5)
        except DB_ERRORS as exc:
            if time.monotonic() > deadline:
                raise
            if log is not None:
                log.info("menunggu database %s:%s (%s)", cfg.db_host, cfg.db_port, exc)
            time.sleep(1)


class Pool:
    """At most ``size`` open connections, reused LIFO."""

    def __init__(self, cfg: Config, size: int) -> None:
        self.cfg = cfg
        self.size = size
        self._idle: queue.LifoQueue[Connection] = queue.LifoQueue()
        self._open = 0
        self._lock = threading.Lock()

    def get(self, wait_s: float = 10.0) -> Connection:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            room = self._open < self.size
            if room:
                self._open += 1
        if room:
            try:
                return connect(self.cfg)
            except BaseException:
                with self._lock:
                    self._open -= 1
                raise
        try:
            return self._idle.get(timeout=wait_s)
        except queue.Empty:
            raise OSError("semua koneksi database sedang dipakai") from None

    def put(self, conn: Connection, *, broken: bool = False) -> None:
        if broken:
            with self._lock:
                self._open -= 1
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - already broken
                pass
            return
        self._idle.put(conn)


def rows(conn: Connection, sql: str, **params: Any) -> list[Row]:
    result = conn.run(sql, **params)
    cols = [c["name"] for c in (conn.columns or [])]
    return [dict(zip(cols, r, strict=True)) for r in (result or [])]


def one(conn: Connection, sql: str, **params: Any) -> Row | None:
    found = rows(conn, sql, **params)
    return found[0] if found else None


@contextmanager
def transaction(conn: Connection) -> Iterator[None]:
    conn.run("BEGIN")
    try:
        yield
    except BaseException:
        conn.run("ROLLBACK")
        raise
    conn.run("COMMIT")
