"""SQLite storage of Pengaduan Masyarakat (``/data/pengaduan.db``, WAL journal).

The schema version lives in ``PRAGMA user_version``; :data:`MIGRATIONS` are applied in
order, each in its own transaction, so an interrupted upgrade leaves the last good version.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

from . import logic

MIGRATIONS: tuple[str, ...] = (
    # 1: complaints and their status history
    """
    CREATE TABLE complaints (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ticket TEXT NOT NULL UNIQUE,
        year INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        nama TEXT,
        kontak TEXT,
        kategori TEXT NOT NULL,
        judul TEXT NOT NULL,
        isi TEXT NOT NULL,
        lokasi TEXT,
        status TEXT NOT NULL DEFAULT 'diterima',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (year, seq)
    );
    CREATE TABLE status_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        complaint_id INTEGER NOT NULL REFERENCES complaints(id) ON DELETE CASCADE,
        status TEXT NOT NULL,
        catatan TEXT NOT NULL DEFAULT '',
        oleh TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX status_history_complaint ON status_history(complaint_id, id);
    CREATE INDEX complaints_status ON complaints(status, id);
    """,
    # 2: a row the health check writes to, proving the database is writable
    """
    CREATE TABLE health (id INTEGER PRIMARY KEY CHECK (id = 1), checked_at TEXT NOT NULL);
    INSERT INTO health (id, checked_at) VALUES (1, '');
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def connect(path: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=10, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply the missing migrations; returns the versions applied. Refuses a newer schema."""
    conn.execute("PRAGMA journal_mode = WAL")
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise RuntimeError(
            f"database schema {current} is newer than this version of the app ({SCHEMA_VERSION})"
        )
    applied = []
    for version in range(current + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[version - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version:d}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def check_health(conn: sqlite3.Connection) -> dict[str, Any]:
    """Raise unless the schema is current and a write commits; returns facts for /healthz."""
    version = schema_version(conn)
    if version != SCHEMA_VERSION:
        raise RuntimeError(f"schema version {version}, expected {SCHEMA_VERSION}")
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("UPDATE health SET checked_at = ? WHERE id = 1", (now(),))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    count = conn.execute("SELECT COUNT(*) FROM complaints").fetchone()[0]
    return {"schema_version": version, "complaints": int(count)}


def create_complaint(conn: sqlite3.Connection, new: logic.NewComplaint, *, when: str | None = None) -> str:
    """Store a complaint with the next ticket number of its year; returns the ticket."""
    at = when or now()
    year = int(at[:4])
    conn.execute("BEGIN IMMEDIATE")
    try:
        seq = conn.execute(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM complaints WHERE year = ?", (year,)
        ).fetchone()[0]
        ticket = logic.format_ticket(year, int(seq))
        cur = conn.execute(
            "INSERT INTO complaints (ticket, year, seq, nama, kontak, kategori, judul, isi, lokasi,"
            " status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (ticket, year, seq, new.nama, new.kontak, new.kategori, new.judul, new.isi, new.lokasi,
             logic.STATUS_DITERIMA, at, at),
        )  # fmt: skip
        conn.execute(
            "INSERT INTO status_history (complaint_id, status, catatan, oleh, at) VALUES (?, ?, ?, ?, ?)",
            (cur.lastrowid, logic.STATUS_DITERIMA, "Pengaduan diterima oleh sistem.", "sistem", at),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return ticket


def get_complaint(conn: sqlite3.Connection, ticket: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    row = conn.execute("SELECT * FROM complaints WHERE ticket = ?", (ticket,)).fetchone()
    if row is None:
        return None
    history = conn.execute(
        "SELECT status, catatan, oleh, at FROM status_history WHERE complaint_id = ? ORDER BY id",
        (row["id"],),
    ).fetchall()
    return dict(row), [dict(h) for h in history]


def list_complaints(
    conn: sqlite3.Connection, *, status: str | None = None, limit: int = 50, offset: int = 0
) -> list[dict[str, Any]]:
    sql = "SELECT ticket, kategori, judul, status, created_at, updated_at FROM complaints"
    args: list[Any] = []
    if status:
        sql += " WHERE status = ?"
        args.append(status)
    sql += " ORDER BY id DESC LIMIT ? OFFSET ?"
    args += [max(1, min(limit, 500)), max(0, offset)]
    return [dict(r) for r in conn.execute(sql, args).fetchall()]


def count_by_status(conn: sqlite3.Connection) -> dict[str, int]:
    counts = dict.fromkeys(logic.STATUSES, 0)
    for row in conn.execute("SELECT status, COUNT(*) FROM complaints GROUP BY status"):
        counts[row[0]] = int(row[1])
    return counts


def change_status(
    conn: sqlite3.Connection, ticket: str, new_status: str, catatan: str, *, oleh: str, when: str | None = None
) -> str:
    """Move a complaint to ``new_status`` (rules in :func:`logic.check_transition`); returns the old status."""
    at = when or now()
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute("SELECT id, status FROM complaints WHERE ticket = ?", (ticket,)).fetchone()
        if row is None:
            raise KeyError(ticket)
        logic.check_transition(row["status"], new_status, catatan)
        conn.execute(
            "UPDATE complaints SET status = ?, updated_at = ? WHERE id = ?", (new_status, at, row["id"])
        )
        conn.execute(
            "INSERT INTO status_history (complaint_id, status, catatan, oleh, at) VALUES (?, ?, ?, ?, ?)",
            (row["id"], new_status, catatan.strip(), oleh, at),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return str(row["status"])
