"""Opening one of the embedded stores' SQLite files: the same settings for bookings, closures and realtime."""
from __future__ import annotations

import sqlite3
from pathlib import Path


def open_sqlite(path: str | Path, *, synchronous: str = "FULL", busy_timeout_ms: int | None = None
                ) -> sqlite3.Connection:
    """Autocommit (each store opens its own transactions), shared with worker threads behind the store's lock, and
    in WAL mode so readers never wait for a writer; ``synchronous=FULL`` where a crash must lose nothing committed.
    ":memory:" (tests, `make run`) keeps SQLite's defaults: there is no file to journal."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    if str(path) != ":memory:":
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        if busy_timeout_ms is not None:
            db.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    return db
