"""Opening the database (WAL, busy timeout, migrations serialised across processes and threads), the Store handle
with its write transaction, and the one-update-at-a-time lock. No table is named here."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

from ..errors import StoreError
from ..sources import SOURCES

if TYPE_CHECKING:
    import sqlite_utils

BUSY_TIMEOUT_S = 30
CACHE_KIB = 65_536  # SQLite's page cache per connection, filled as pages are read: bm25 looks up every ranked row's size in its
# index's docsize table, which at a million records overflows SQLite's default 2 MB (searches there took 10-25 % less with this)


def environment_problem(exc: BaseException, path: Path | str) -> str | None:
    """What an SQLite error says of the database's surroundings, in one line naming the file, when it is the disk,
    the file system or a limit rather than the tracker: None for any other error."""
    text = str(exc).lower()
    if "database or disk is full" in text:
        return f"the disk holding the database {path} is full (or a file-size limit was reached); free space and run again: nothing was lost"
    if "disk i/o error" in text:
        return f"the database {path} could not be written (disk I/O error: a full disk, a file-size limit or a failing device); the last good state is kept"
    if "readonly database" in text or "read-only" in text:
        return f"the database {path} is read-only (the file or its directory: SQLite's WAL also writes {path}-wal and {path}-shm beside it)"
    return None


DAMAGE_SHOWN = 3  # quick_check's first findings named in the one line


def read_only_uri(path: Path | str) -> str:
    """The SQLite URI that opens a database for reading only (nothing created, migrated or written)."""
    from urllib.parse import quote

    return f"file:{quote(str(Path(path).resolve()))}?mode=ro"


def integrity(conn: sqlite3.Connection, *, thorough: bool = False) -> list[str]:
    """SQLite's own check, ["ok"] or its first findings in its words: quick_check, or integrity_check (every index
    against its table too)."""
    pragma = "integrity_check" if thorough else "quick_check"
    return [" ".join(str(row[0]).split()) for row in conn.execute(f"PRAGMA {pragma}({DAMAGE_SHOWN})")]


def damage(path: Path | str, conn: sqlite3.Connection | None = None) -> str | None:
    """What SQLite's quick_check finds wrong with the database file, or None when it finds nothing. Read-only; on
    its own connection unless one is given."""
    own = conn is None
    try:
        if own:
            conn = reader_connection(path)
        try:
            found = integrity(conn)
        finally:
            if own:
                conn.close()
    except sqlite3.DatabaseError as exc:
        return " ".join(str(exc).split())
    return None if found == ["ok"] else "; ".join(found)


def damaged(path: Path | str, what: str) -> StoreError:
    """The one line a damaged database gets: what is wrong, that nothing more was written, how to recover."""
    return StoreError(f"the database {path} is damaged ({what[:240]}); nothing more was written to it. Restore a backup, or recover "
                      f"what it holds with `sqlite3 {path} .recover | sqlite3 recovered.db` and point TRACKER_DB at recovered.db "
                      "(`tracker doctor` checks a database)")


def undecodable(exc: BaseException) -> str | None:
    """A column holding text that is not UTF-8 (SQLite's error names it, then quotes the raw bytes: they are not
    repeated), said as damage: the tracker writes UTF-8 only. None for any other error."""
    message = str(exc)
    if isinstance(exc, UnicodeDecodeError):
        return "text that is not UTF-8"
    if "could not decode to utf-8" in message.lower():
        column = message.split(" with text", 1)[0].split("column", 1)[-1].strip(" '")
        return f"text that is not UTF-8 in column {column[:60]}" if column else "text that is not UTF-8"
    return None


def migration_sets() -> list:
    """The tracker's own migrations, then each source's own: the set that makes a table its shape declares, and any
    set of its own (a source added later brings its tables there)."""
    from .migrations import migrations
    from .tables import declared_migrations

    declared = [declared_migrations(s) for s in SOURCES.values() if s.shape.columns is not None]
    return [migrations, *declared, *(s.migrations for s in SOURCES.values() if s.migrations is not None)]


# What schema_stamp() makes of this version's migrations (every set of migration_sets(), every name): a database whose
# applied migrations stamp the same is opened for reading without sqlite-utils or the migration check. A test keeps
# it true; were it stale, every open would take the long way, which stays correct.
SCHEMA_STAMP = 3323173972


def known_migrations(sets: list) -> set[tuple[str, str]]:
    """(set, name) of every migration of these sets (sqlite-utils 4 keeps them in `_migrations`; pinned <5)."""
    return {(named.name, m.name) for named in sets for m in named._migrations}


def applied_migrations(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(set, name) of every migration a database has applied (sqlite-utils' `_sqlite_migrations`)."""
    return conn.execute("SELECT migration_set, name FROM _sqlite_migrations").fetchall()


def schema_stamp(applied: Iterable[tuple[str, str]]) -> int:
    """A checksum of a set of (migration set, migration name): the migrations a database has applied, or those this
    version knows."""
    return zlib.crc32("\n".join(sorted(f"{named}.{name}" for named, name in applied)).encode())


log = logging.getLogger("tracker.store")


def _connect(target: str, *, uri: bool = False) -> sqlite3.Connection:
    """A connection as the tracker opens every one of its own: the busy timeout (the driver's and SQLite's) and the
    page cache."""
    conn = sqlite3.connect(target, uri=uri, timeout=BUSY_TIMEOUT_S)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    return conn


def reader_connection(path: Path | str) -> sqlite3.Connection:
    """A read-only connection of the tracker's own (nothing created, migrated or written), set up as every other."""
    return _connect(read_only_uri(path), uri=True)


def database(conn: sqlite3.Connection) -> sqlite_utils.Database:
    """sqlite-utils over one of the tracker's connections, without sqlite-utils plugins: a plugin installed for
    something else would otherwise run its prepare_connection hook on the tracker's database, and finding the
    installed plugins read every package's entry points (18 ms of each command's start). Imported here, when a
    command writes or migrates: sqlite-utils, and the numpy it imports, were a third of a search's start-up."""
    import sqlite_utils

    return sqlite_utils.Database(conn, execute_plugins=False)


@dataclass
class Store:
    """An open tracker database. Use it as a context manager (`with open_store(path) as store:`), or close() it.
    `rows` and `execute` are for the store package's own modules (reads.py, writes.py); `db`, sqlite-utils over the
    same connection, for the writes and migrations, made when first asked for."""

    conn: sqlite3.Connection
    path: Path
    _db: Any = field(default=None, repr=False)

    @classmethod
    def over(cls, conn: sqlite3.Connection, path: Path | str) -> "Store":
        """A Store on a connection opened elsewhere (a reader thread's, Datasette's), nothing migrated or checked."""
        return cls(conn=conn, path=Path(path))

    @property
    def db(self) -> sqlite_utils.Database:
        if self._db is None:
            self._db = database(self.conn)
        return self._db

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def execute(self, sql: str, params: Sequence[Any] | dict = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def rows(self, sql: str, params: Sequence[Any] | dict = ()) -> list[dict[str, Any]]:
        cursor = self.conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction. BEGIN IMMEDIATE takes the write lock up front, waiting out another writer (busy
        timeout); a deferred BEGIN that reads first would fail at once when it tries to write. Nested: a savepoint.
        A COMMIT that fails (disk full, I/O error) is rolled back like any other failure."""
        conn = self.conn
        if conn.in_transaction:
            with self.db.atomic():  # a savepoint
                yield
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def update_lock(self) -> Iterator[None]:
        """One update at a time per database; a second one refuses at once with the holder's pid."""
        lock_path = f"{self.path}.lock"
        try:
            handle = open(lock_path, "a+")
        except OSError as exc:
            raise StoreError(f"cannot create lock file {lock_path}: {exc.strerror}") from None
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                raise StoreError(
                    f"another update is already writing to {self.path} (pid {holder}); try again when it has finished"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            yield
        finally:
            handle.close()


@contextlib.contextmanager
def _setup_lock(path: Path) -> Iterator[None]:
    """Creating a database, turning on WAL and migrating are serialised by an flock on a file beside it: flock
    conflicts between processes and between two open() calls of one process, so the scheduler's two threads wait
    for each other too. SQLite's own busy timeout does not cover the journal-mode switch on a new file."""
    try:
        handle = open(f"{path}.setup-lock", "a+")
    except OSError:  # a read-only directory: nothing can be created or migrated there, SQLite will say so
        yield
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)  # held for milliseconds: wait without a bound
        yield
    finally:
        handle.close()


def refuse_newer(db: sqlite_utils.Database, sets: list, path: Path) -> None:
    """A database a newer tracker wrote (a migration of one of our sets this version does not know) is not written
    into: its tables may mean what this code does not know. One line saying so, nothing touched."""
    if "_sqlite_migrations" not in db.table_names():
        return
    known = known_migrations(sets)
    ours = {named.name for named in sets}
    unknown = [f"{set_name}.{name}" for set_name, name in applied_migrations(db.conn) if set_name in ours and (set_name, name) not in known]
    if unknown:
        raise StoreError(f"{path} was written by a newer tracker (migration {', '.join(unknown[:3])}{' ...' if len(unknown) > 3 else ''} "
                         "is unknown to this version); upgrade the tracker to use it, or point TRACKER_DB at another database; nothing was written")


def _open_read_only(path: Path) -> Store:
    """A database where nothing can be written (a read-only mount, an archive copy), opened for reading: SQLite's WAL
    needs its -shm file beside the database, so without one the file is read as immutable (nothing else writes
    there either). A database that needs an upgrade cannot be upgraded in place and says so."""
    uri = read_only_uri(path) + ("" if Path(f"{path}-shm").exists() else "&immutable=1")
    try:
        conn = _connect(uri, uri=True)
        db = database(conn)
        refuse_newer(db, migration_sets(), path)
        pending = [m.name for named in migration_sets() for m in named.pending(db)]
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot read the database {path} in its read-only place ({exc})") from None
    if pending:
        conn.close()
        raise StoreError(f"the database {path} needs an upgrade ({', '.join(pending[:3])}{' ...' if len(pending) > 3 else ''}) and "
                         "its place is read-only; run `tracker update` on a writable copy")
    return Store(conn=conn, path=path, _db=db)


def _open_current(path: Path) -> Store | None:
    """A database for the commands that only read, opened the short way when it has applied exactly the migrations
    this version knows (SCHEMA_STAMP): nothing to migrate or refuse, so neither sqlite-utils nor the migration sets
    are loaded. None, and nothing kept open, for any other database or any error: open_store's long way then
    migrates it, refuses it or says what is wrong."""
    try:
        conn = _connect(str(path))
    except sqlite3.Error:
        return None
    try:
        if schema_stamp(applied_migrations(conn)) != SCHEMA_STAMP:
            conn.close()
            return None
        conn.execute("PRAGMA recursive_triggers = on")  # as sqlite-utils sets it on every connection it opens
    except sqlite3.Error:
        conn.close()
        return None
    return Store(conn=conn, path=path)


def open_store(path: Path | str, *, create: bool = True, check: bool = False) -> Store:
    """Open the database: WAL, a busy timeout, the schema migrated. With create=False (commands that only read) a
    missing database is a StoreError that says how to make one, and nothing is created; a current one opens the
    short way (_open_current). check (the commands that
    write: update, run, import, digest): a damaged database is refused before anything is written (quick_check, a
    fifth of a second on a warm 300 MB database). StoreError on any problem."""
    path = Path(path)
    if path.exists() and path.is_dir():
        raise StoreError(f"database path {path} is a directory")
    if not create and not path.exists():
        raise StoreError(f"no database at {path} yet; `tracker update` (or `tracker run`) creates it, or pass --db PATH")
    if not create and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
        return _open_read_only(path)
    if not create and not check and (current := _open_current(path)) is not None:
        return current
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the database directory {path.parent}: {exc.strerror}") from None
    try:
        with _setup_lock(path):
            conn = _connect(str(path))
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            if check and (what := damage(path, conn)):
                conn.close()
                raise damaged(path, what)
            db = database(conn)
            if db.journal_mode != "wal":
                db.enable_wal()
            conn.execute("PRAGMA synchronous = NORMAL")
            sets = migration_sets()
            refuse_newer(db, sets, path)
            upgrading = "trials" in db.table_names()  # an upgrade, not a new database: it may take a while
            for named in sets:
                pending = named.pending(db)
                if pending and upgrading:
                    log.info("upgrading the database %s: %s", path, ", ".join(m.name for m in pending))
                named.apply(db)
    except sqlite3.DatabaseError as exc:
        message = str(exc)
        if "not a database" in message:
            raise StoreError(f"{path} is not a tracker database, or its first page is damaged ({message}): point TRACKER_DB at the "
                             f"database, or restore a backup, or recover what it holds with `sqlite3 {path} .recover | sqlite3 recovered.db`") from None
        if "malformed" in message:
            raise damaged(path, message) from None
        if "unable to open" in message:
            raise StoreError(f"cannot write to the database {path} ({message})") from None
        raise StoreError(environment_problem(exc, path) or f"cannot open the database {path}: {message}") from None
    return Store(conn=conn, path=path, _db=db)
