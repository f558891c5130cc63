"""`tracker doctor`: whether a database can be trusted, read without writing a byte. The schema against this
version's migrations, SQLite's integrity check, every stored text as UTF-8, and runs left unfinished."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from ..errors import StoreError
from .connection import BUSY_TIMEOUT_S, applied_migrations, integrity, known_migrations, migration_sets, read_only_uri

SHOWN = 5  # rows named per finding


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    text: str


def examine(path: Path, *, thorough: bool = False) -> list[Finding]:
    """Every check, in order; a database that cannot be opened at all is a StoreError. thorough: integrity_check
    (every index against its table too) in place of quick_check."""
    if not path.exists():
        raise StoreError(f"no database at {path}")
    try:  # a bare connection: the store's own (reader_connection) reads the header as it opens, and a file too damaged
        # for that must still be examined check by check
        conn = sqlite3.connect(read_only_uri(path), uri=True, timeout=BUSY_TIMEOUT_S)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open the database {path} ({exc})") from None
    checks = (("schema", _schema), ("integrity_check" if thorough else "quick_check", lambda c: _integrity(c, thorough)),
              ("text encoding", _encoding), ("runs", _unfinished))
    findings = []
    try:
        for name, check in checks:
            try:
                findings.append(check(conn))
            except sqlite3.DatabaseError as exc:  # a check that cannot even read what it checks
                if not ("malformed" in str(exc) or "not a database" in str(exc)):
                    raise
                findings.append(Finding(name, False, f"damaged: {' '.join(str(exc).split())}"))
    finally:
        conn.close()
    return findings


def _schema(conn: sqlite3.Connection) -> Finding:
    sets = migration_sets()
    names = {t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "_sqlite_migrations" not in names:
        return Finding("schema", "trials" not in names, "no migrations recorded" + (" (a database from before migrations: `tracker update` upgrades it)" if "trials" in names else ""))
    applied = set(applied_migrations(conn))
    known = known_migrations(sets)
    ours = {named.name for named in sets}
    newer = sorted(f"{s}.{n}" for s, n in applied if s in ours and (s, n) not in known)
    if newer:
        return Finding("schema", False, f"written by a newer tracker ({', '.join(newer[:3])}); upgrade the tracker to use it")
    pending = sorted(f"{s}.{n}" for s, n in known - applied)
    if pending:
        return Finding("schema", True, f"{len(applied)} migrations applied; {len(pending)} to apply on the next update ({', '.join(pending[:3])})")
    return Finding("schema", True, f"up to date ({len(applied)} migrations)")


def _integrity(conn: sqlite3.Connection, thorough: bool) -> Finding:
    found = integrity(conn, thorough=thorough)
    return Finding("integrity_check" if thorough else "quick_check", found == ["ok"], "ok" if found == ["ok"] else "damaged: " + "; ".join(found))


def _encoding(conn: sqlite3.Connection) -> Finding:
    """Every text value of every table read as bytes and decoded: SQLite does not check, and a damaged page can hold
    bytes that fail every later read of their row."""
    bad: list[str] = []
    count = 0
    tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                                        "AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name")]
    virtual = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL%'")]
    shadow = {f"{t}_{part}" for t in virtual for part in ("data", "idx", "content", "docsize", "config")}
    columns_of = {t: [c[1] for c in conn.execute(f"PRAGMA table_info([{t}])")] for t in tables}
    conn.text_factory = bytes
    try:
        for table in (t for t in tables if t not in shadow):
            columns = columns_of[table]
            for number, row in enumerate(conn.execute(f"SELECT * FROM [{table}]"), 1):
                for column, value in zip(columns, row):
                    if type(value) is bytes:
                        try:
                            value.decode("utf-8")
                        except UnicodeDecodeError:
                            count += 1
                            if len(bad) < SHOWN:
                                bad.append(f"{table}.{column} of its row {number}")
    finally:
        conn.text_factory = str
    if count:
        return Finding("text encoding", False, f"damaged: {count} value(s) not UTF-8 ({', '.join(bad)})")
    return Finding("text encoding", True, "every stored text is UTF-8")


def _unfinished(conn: sqlite3.Connection) -> Finding:
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'runs'").fetchone():
        return Finding("runs", True, "none yet")
    running = conn.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone()[0]
    total = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    text = f"{total} recorded" + (f"; {running} still marked running (an update in progress, or one that was killed: the next update says so)" if running else "")
    return Finding("runs", True, text)
