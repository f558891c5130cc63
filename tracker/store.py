"""The SQLite store: the only module that knows table names and SQL.

Schema as sqlite-utils Migrations, WAL, change detection on upsert, runs with their cursors, selects for
digest, search, show and claims. One fetch of one topic line is written inside one transaction with its cursor.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import sqlite_utils
from sqlite_utils import Migrations

from .errors import StoreError
from .models import Change, Publication, SaveResult, Trial, as_plain

migrations = Migrations("tracker")

TRIAL_JSON_COLUMNS = ("phases", "conditions", "interventions", "countries", "study_references")
PUBLICATION_JSON_COLUMNS = ("authors", "publication_types", "mesh_terms", "keywords", "nct_ids", "corrections")
JSON_COLUMNS = frozenset(TRIAL_JSON_COLUMNS + PUBLICATION_JSON_COLUMNS)
RAW_COLUMNS = ("raw_json", "raw_xml", "raw_hash")  # kept for back-filling, never shown or exported
# Fields whose change a clinician wants to hear about.
TRACKED_TRIAL_FIELDS = (
    "title",
    "overall_status",
    "why_stopped",
    "phases",
    "enrollment",
    "enrollment_type",
    "has_results",
    "start_date",
    "primary_completion_date",
    "completion_date",
    "lead_sponsor",
)
TRACKED_PUBLICATION_FIELDS = ("title", "is_retracted", "is_deleted", "corrections", "doi")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db["trials"].create(
        {
            "nct_id": str,
            "title": str,
            "official_title": str,
            "acronym": str,
            "overall_status": str,
            "why_stopped": str,
            "phases": str,
            "study_type": str,
            "enrollment": int,
            "enrollment_type": str,
            "lead_sponsor": str,
            "lead_sponsor_class": str,
            "conditions": str,
            "interventions": str,
            "countries": str,
            "start_date": str,
            "start_date_type": str,
            "primary_completion_date": str,
            "primary_completion_date_type": str,
            "completion_date": str,
            "completion_date_type": str,
            "first_posted_date": str,
            "last_update_posted_date": str,
            "results_first_posted_date": str,
            "has_results": int,
            "study_references": str,
            "url": str,
            "raw_json": str,
            "raw_hash": str,
            "first_seen_at": str,
            "updated_at": str,
        },
        pk="nct_id",
        not_null={"first_seen_at"},
    )
    db["publications"].create(
        {
            "pmid": str,
            "version": str,
            "title": str,
            "abstract": str,
            "authors": str,
            "journal": str,
            "journal_abbrev": str,
            "volume": str,
            "issue": str,
            "pages": str,
            "pub_date": str,
            "sort_date": str,
            "pub_year": int,
            "article_date": str,
            "entrez_date": str,
            "doi": str,
            "pmcid": str,
            "publication_types": str,
            "mesh_terms": str,
            "keywords": str,
            "language": str,
            "nct_ids": str,
            "is_retracted": int,
            "is_deleted": int,
            "is_book": int,
            "corrections": str,
            "raw_xml": str,
            "raw_hash": str,
            "first_seen_at": str,
            "updated_at": str,
        },
        pk="pmid",
        not_null={"first_seen_at"},
    )
    for table, record in (("trial_changes", "nct_id"), ("publication_changes", "pmid")):
        db[table].create(
            {"id": int, record: str, "field": str, "old_value": str, "new_value": str, "detected_at": str, "run_id": int},
            pk="id",
        )
        db[table].create_index([record])
        db[table].create_index(["detected_at"])
    db["trial_publications"].create(
        {"nct_id": str, "pmid": str, "source": str, "reference_type": str, "first_seen_at": str},
        pk=("nct_id", "pmid", "source"),
    )
    db["trial_publications"].create_index(["pmid"])
    db["trial_publications"].create_index(["first_seen_at"])
    db["query_matches"].create(
        {"query": str, "source": str, "record_id": str, "first_seen_at": str}, pk=("query", "source", "record_id")
    )
    db["query_matches"].create_index(["source", "record_id"])
    db["query_matches"].create_index(["first_seen_at"])
    db["runs"].create(
        {
            "id": int,
            "source": str,
            "query": str,
            "started_at": str,
            "finished_at": str,
            "status": str,
            "fetched": int,
            "new": int,
            "changed": int,
            "error": str,
            "cursor": str,
            "pid": int,
        },
        pk="id",
    )
    db["runs"].create_index(["source", "query", "status"])
    db["digests"].create(
        {"id": int, "created_at": str, "window_start": str, "window_end": str, "files": str, "summary": str}, pk="id"
    )
    db["claim_checks"].create(
        {
            "id": int,
            "claim_id": str,
            "checked_at": str,
            "verdict": str,
            "summary": str,
            "evidence": str,
            "mode": str,
        },
        pk="id",
    )
    db["claim_checks"].create_index(["claim_id", "checked_at"])
    db["trials"].create_index(["first_seen_at"])
    db["trials"].create_index(["overall_status"])
    db["trials"].create_index(["start_date"])
    db["publications"].create_index(["first_seen_at"])
    db["publications"].create_index(["sort_date"])
    db["publications"].create_index(["doi"])
    db["trials"].enable_fts(
        ["title", "official_title", "conditions", "interventions", "lead_sponsor"], create_triggers=True, tokenize="porter"
    )
    db["publications"].enable_fts(["title", "abstract", "mesh_terms", "authors"], create_triggers=True, tokenize="porter")


@migrations()
def m002_chart_indexes(db: sqlite_utils.Database) -> None:
    """Covering indexes for the digest's per-line charts: the join reads index entries instead of whole rows
    (a publication row carries its abstract and XML). At 1,000,000 publications: 8.6 s -> 0.1 s per line."""
    db.execute("CREATE INDEX IF NOT EXISTS idx_publications_chart ON publications (pmid, first_seen_at, pub_year)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_trials_chart ON trials (nct_id, first_seen_at, start_date)")


@migrations()
def m003_fewer_write_indexes(db: sqlite_utils.Database) -> None:
    """Every index is paid on each upsert. Status, start-date and publication-date filters are applied to FTS hits
    (joined by rowid) and never used these; a DOI is looked up case-insensitively, which the plain index could not serve."""
    for name in ("idx_trials_overall_status", "idx_trials_start_date", "idx_publications_sort_date", "idx_publications_doi",
                 "idx_query_matches_first_seen_at"):
        db.execute(f"DROP INDEX IF EXISTS {name}")
    db.execute("CREATE INDEX IF NOT EXISTS idx_publications_doi_nocase ON publications (doi COLLATE NOCASE)")


LINE_YEARS_BACKFILL = """
INSERT INTO line_years (query, source, year, first_seen_at, n)
SELECT m.query, 'pubmed', coalesce(p.pub_year, 0), p.first_seen_at, count(*)
  FROM query_matches m JOIN publications p ON p.pmid = m.record_id WHERE m.source = 'pubmed'
 GROUP BY m.query, coalesce(p.pub_year, 0), p.first_seen_at
UNION ALL
SELECT m.query, 'ctgov', coalesce(CAST(substr(t.start_date, 1, 4) AS INTEGER), 0), t.first_seen_at, count(*)
  FROM query_matches m JOIN trials t ON t.nct_id = m.record_id WHERE m.source = 'ctgov'
 GROUP BY m.query, coalesce(CAST(substr(t.start_date, 1, 4) AS INTEGER), 0), t.first_seen_at
"""


@migrations()
def m004_line_years(db: sqlite_utils.Database) -> None:
    """Per line, source, year and first-seen time: how many records. Kept current on every save, so a digest's
    charts read a few rows instead of joining every match of a line (1.2 s of a 1.9 s digest at full scale)."""
    db["line_years"].create(
        {"query": str, "source": str, "year": int, "first_seen_at": str, "n": int}, pk=("query", "source", "year", "first_seen_at")
    )
    db.execute(LINE_YEARS_BACKFILL)


@migrations()
def m005_drop_chart_indexes(db: sqlite_utils.Database) -> None:
    """line_years serves the charts now; the covering indexes of m002 only cost writes."""
    db.execute("DROP INDEX IF EXISTS idx_publications_chart")
    db.execute("DROP INDEX IF EXISTS idx_trials_chart")


def chart_year(table: str, row: dict[str, Any]) -> int:
    """The year a record is charted under (0: unknown): publication year, or a trial's start year."""
    if table == "publications":
        return int(row.get("pub_year") or 0)
    start = row.get("start_date") or ""
    return int(start[:4]) if start[:4].isdigit() else 0


def iso(moment: datetime) -> str:
    """Timestamps are ISO-8601 UTC strings, second precision, so they sort and compare as text."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def _json(value: Any) -> str:
    if isinstance(value, tuple) and all(type(v) is str for v in value):  # the common case: a list of names
        return json.dumps(list(value), ensure_ascii=False)
    return json.dumps(as_plain(value), ensure_ascii=False)


def trial_row(trial: Trial) -> dict[str, Any]:
    row = {k: getattr(trial, k) for k in trial.__dataclass_fields__ if k != "references"}
    row["study_references"] = trial.references
    for column in TRIAL_JSON_COLUMNS:
        row[column] = _json(row[column])
    row["has_results"] = int(trial.has_results)
    row["raw_hash"] = _hash(trial.raw_json)
    return row


def publication_row(pub: Publication) -> dict[str, Any]:
    row = {k: getattr(pub, k) for k in pub.__dataclass_fields__ if k != "text_nct_ids"}
    for column in PUBLICATION_JSON_COLUMNS:
        row[column] = _json(row[column])
    for flag in ("is_retracted", "is_deleted", "is_book"):
        row[flag] = int(row[flag])
    row["pub_year"] = int(pub.sort_date[:4]) if pub.sort_date and pub.sort_date[:4].isdigit() else None
    row["raw_hash"] = _hash(pub.raw_xml)
    return row


def display_value(field: str, value: Any) -> str | None:
    """How a tracked field is written into *_changes: plain text a reader understands."""
    if value is None:
        return None
    if field in ("phases",):
        items = json.loads(value) if isinstance(value, str) else value
        return ", ".join(items) if items else None
    if field == "corrections":
        items = json.loads(value) if isinstance(value, str) else value
        return ", ".join(f"{c['type']} {c.get('pmid') or ''}".strip() for c in items) if items else None
    if field in ("has_results", "is_retracted", "is_deleted"):
        return "true" if int(value) else "false"
    return str(value)


def diff_row(old: dict[str, Any], new: dict[str, Any], fields: Sequence[str], record_id: str) -> list[Change]:
    changes = []
    for field in fields:
        before, after = display_value(field, old.get(field)), display_value(field, new.get(field))
        if before != after:
            changes.append(Change(record_id=record_id, field=field, old_value=before, new_value=after))
    return changes


@dataclass
class Store:
    db: sqlite_utils.Database
    path: Path

    # -- housekeeping --------------------------------------------------------------------------
    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction. BEGIN IMMEDIATE takes the write lock up front, waiting out another writer (busy
        timeout); a deferred BEGIN that reads first would fail at once when it tries to write. Nested: a savepoint."""
        conn = self.db.conn
        if conn.in_transaction:
            with self.db.atomic():  # a savepoint
                yield
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

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

    def _execute(self, sql: str, params: Sequence[Any] | dict = ()) -> sqlite3.Cursor:
        return self.db.execute(sql, params)

    def _rows(self, sql: str, params: Sequence[Any] | dict = ()) -> list[dict[str, Any]]:
        cursor = self.db.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    # -- runs ----------------------------------------------------------------------------------
    def start_run(self, source: str, query: str, now: datetime) -> int:
        with self.transaction():
            cursor = self._execute(
                "INSERT INTO runs (source, query, started_at, status, fetched, new, changed, pid) VALUES (?, ?, ?, 'running', 0, 0, 0, ?)",
                (source, query, iso(now), os.getpid()),
            )
        return cursor.lastrowid

    def finish_run(
        self, run_id: int, *, status: str, now: datetime, result: SaveResult | None = None, cursor: str | None = None, error: str | None = None
    ) -> None:
        result = result or SaveResult()
        with self.transaction():
            self._execute(
                "UPDATE runs SET finished_at = ?, status = ?, fetched = ?, new = ?, changed = ?, cursor = ?, error = ? WHERE id = ?",
                (iso(now), status, result.fetched, result.new, result.changed, cursor, error, run_id),
            )

    def mark_interrupted_runs(self, now: datetime) -> int:
        """Runs still 'running' when the update lock is free were killed; say so (their data was rolled back)."""
        with self.transaction():
            cursor = self._execute(
                "UPDATE runs SET status = 'interrupted', finished_at = ?, error = 'the process stopped before the run finished' "
                "WHERE status = 'running'",
                (iso(now),),
            )
        return cursor.rowcount

    def last_cursor(self, source: str, query: str) -> str | None:
        rows = self._rows(
            "SELECT cursor FROM runs WHERE source = ? AND query = ? AND status = 'ok' AND cursor IS NOT NULL ORDER BY id DESC LIMIT 1",
            (source, query),
        )
        return rows[0]["cursor"] if rows else None

    # -- saving --------------------------------------------------------------------------------
    def _existing(self, table: str, key: str, ids: list[str], columns: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        year_column = "pub_year" if table == "publications" else "start_date"
        cols = ", ".join(dict.fromkeys([key, "raw_hash", "first_seen_at", year_column, *columns]))
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._rows(f"SELECT {cols} FROM {table} WHERE {key} IN ({marks})", chunk):
                found[row[key]] = row
        return found

    def _save(
        self,
        table: str,
        key: str,
        rows: list[dict[str, Any]],
        tracked: Sequence[str],
        changes_table: str,
        *,
        query: str,
        source: str,
        run_id: int | None,
        now: datetime,
    ) -> tuple[SaveResult, set[str]]:
        """Upsert rows, record tracked changes, note the query match. Returns the result and the ids that changed."""
        stamp = iso(now)
        by_id = {row[key]: row for row in rows}  # a record twice in one batch: the last copy wins
        existing = self._existing(table, key, list(by_id), tracked)
        result = SaveResult(fetched=len(by_id))
        write: list[dict[str, Any]] = []
        changes: list[Change] = []
        touched: set[str] = set()
        for record_id, row in by_id.items():
            old = existing.get(record_id)
            if old is None:
                result.new += 1
                write.append(row)
                touched.add(record_id)
            elif old["raw_hash"] != row["raw_hash"]:
                found = diff_row(old, row, tracked, record_id)
                if found:
                    result.changed += 1
                    changes.extend(found)
                write.append(row)
                touched.add(record_id)
        if write:
            columns = list(write[0].keys())
            updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
            sql = (
                f"INSERT INTO {table} ({', '.join(columns)}, first_seen_at, updated_at) "
                f"VALUES ({', '.join('?' * (len(columns) + 2))}) "
                f"ON CONFLICT({key}) DO UPDATE SET {updates}, updated_at = excluded.updated_at"
            )
            # positional tuples: sqlite3 binds them faster than named parameters from dicts
            self.db.conn.executemany(sql, [(*row.values(), stamp, stamp) for row in write])
        if changes:
            self.db.conn.executemany(
                f"INSERT INTO {changes_table} ({key}, field, old_value, new_value, detected_at, run_id) VALUES (?, ?, ?, ?, ?, ?)",
                [(c.record_id, c.field, c.old_value, c.new_value, stamp, run_id) for c in changes],
            )
        self._count_years(table, source, query, by_id, existing, stamp)
        self.db.conn.executemany(
            "INSERT OR IGNORE INTO query_matches (query, source, record_id, first_seen_at) VALUES (?, ?, ?, ?)",
            [(query, source, record_id, stamp) for record_id in by_id],
        )
        return result, touched

    def _count_years(
        self, table: str, source: str, query: str, by_id: dict[str, dict[str, Any]], existing: dict[str, dict[str, Any]], stamp: str
    ) -> None:
        """Keep line_years current: a record newly matched by this line adds one to its year; a known record whose
        year moved is moved in every line that had matched it."""
        ids = list(by_id)
        matched: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            matched.update(r[0] for r in self.db.execute(
                f"SELECT record_id FROM query_matches WHERE query = ? AND source = ? AND record_id IN ({','.join('?' * len(chunk))})",
                [query, source, *chunk],
            ))
        deltas: dict[tuple[str, int, str], int] = {}
        for record_id, row in by_id.items():
            old = existing.get(record_id)
            first_seen = old["first_seen_at"] if old else stamp
            year = chart_year(table, row)
            if record_id not in matched:
                deltas[(query, year, first_seen)] = deltas.get((query, year, first_seen), 0) + 1
            if old is not None and chart_year(table, old) != year:
                for (line,) in self.db.execute(
                    "SELECT query FROM query_matches WHERE source = ? AND record_id = ?", (source, record_id)
                ).fetchall():
                    before = (line, chart_year(table, old), first_seen)
                    after = (line, year, first_seen)
                    deltas[before] = deltas.get(before, 0) - 1
                    deltas[after] = deltas.get(after, 0) + 1
        if deltas:
            self.db.conn.executemany(
                "INSERT INTO line_years (query, source, year, first_seen_at, n) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (query, source, year, first_seen_at) DO UPDATE SET n = n + excluded.n",
                [(line, source, year, first_seen, n) for (line, year, first_seen), n in deltas.items() if n],
            )

    def rebuild_line_years(self) -> None:
        """Recount line_years from the matches (after rows were written around _save, as the benchmark's bulk load does)."""
        with self.transaction():
            self._execute("DELETE FROM line_years")
            self._execute(LINE_YEARS_BACKFILL)

    def save_trials(self, trials: Iterable[Trial], *, query: str, run_id: int | None, now: datetime) -> SaveResult:
        trials = list(trials)
        rows = [trial_row(t) for t in trials]
        result, touched = self._save(
            "trials", "nct_id", rows, TRACKED_TRIAL_FIELDS, "trial_changes", query=query, source="ctgov", run_id=run_id, now=now
        )
        links = [
            (t.nct_id, ref.pmid, "ctgov_reference", ref.type, iso(now))
            for t in trials
            if t.nct_id in touched
            for ref in t.references
        ]
        self._link(links)
        return result

    def save_publications(self, pubs: Iterable[Publication], *, query: str, run_id: int | None, now: datetime) -> SaveResult:
        pubs = list(pubs)
        rows = [publication_row(p) for p in pubs if not p.is_deleted]
        rows.extend(self._deleted_rows([p for p in pubs if p.is_deleted]))
        result, touched = self._save(
            "publications", "pmid", rows, TRACKED_PUBLICATION_FIELDS, "publication_changes", query=query, source="pubmed", run_id=run_id, now=now
        )
        links = []
        for p in pubs:
            if p.pmid not in touched:
                continue
            links.extend((nct, p.pmid, "pubmed_databank", None, iso(now)) for nct in p.nct_ids)
            links.extend((nct, p.pmid, "pubmed_text", None, iso(now)) for nct in p.text_nct_ids if nct not in p.nct_ids)
        self._link(links)
        return result

    def _deleted_rows(self, deleted: list[Publication]) -> list[dict[str, Any]]:
        """A DeleteCitation keeps what was stored and only marks it deleted, so the record stays readable."""
        if not deleted:
            return []
        columns = list(publication_row(deleted[0]).keys())
        stored = {r["pmid"]: r for r in self._rows(
            f"SELECT {', '.join(columns)} FROM publications WHERE pmid IN ({','.join('?' * len(deleted))})", [p.pmid for p in deleted]
        )}
        rows = []
        for pub in deleted:
            row = dict(stored.get(pub.pmid) or publication_row(pub))
            row["is_deleted"] = 1
            row["raw_hash"] = _hash(f"deleted:{row.get('raw_xml') or ''}")
            rows.append(row)
        return rows

    def _link(self, links: list[tuple]) -> None:
        if links:
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO trial_publications (nct_id, pmid, source, reference_type, first_seen_at) VALUES (?, ?, ?, ?, ?)",
                links,
            )

    # -- reading -------------------------------------------------------------------------------
    def select_trial(self, nct_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM trials WHERE nct_id = ?", (nct_id,))
        return rows[0] if rows else None

    def select_publication(self, pmid: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM publications WHERE pmid = ?", (pmid,))
        return rows[0] if rows else None

    def select_pmid_by_doi(self, doi: str) -> str | None:
        rows = self._rows("SELECT pmid FROM publications WHERE doi = ? COLLATE NOCASE", (doi,))
        return rows[0]["pmid"] if rows else None

    def select_changes(self, table: str, record_id: str) -> list[dict[str, Any]]:
        key = "nct_id" if table == "trial_changes" else "pmid"
        return self._rows(f"SELECT * FROM {table} WHERE {key} = ? ORDER BY detected_at DESC, id DESC", (record_id,))

    def select_links(self, *, nct_id: str | None = None, pmid: str | None = None) -> list[dict[str, Any]]:
        if nct_id:
            return self._rows(
                "SELECT tp.*, p.title AS title FROM trial_publications tp LEFT JOIN publications p ON p.pmid = tp.pmid "
                "WHERE tp.nct_id = ? ORDER BY tp.pmid, tp.source",
                (nct_id,),
            )
        return self._rows(
            "SELECT tp.*, t.title AS title FROM trial_publications tp LEFT JOIN trials t ON t.nct_id = tp.nct_id "
            "WHERE tp.pmid = ? ORDER BY tp.nct_id, tp.source",
            (pmid,),
        )

    def select_matches(self, source: str, record_id: str) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT query, first_seen_at FROM query_matches WHERE source = ? AND record_id = ? ORDER BY first_seen_at, query",
            (source, record_id),
        )


def open_store(path: Path | str) -> Store:
    """Open (creating if needed) the database: WAL, a busy timeout, the schema migrated. StoreError on any problem."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the database directory {path.parent}: {exc.strerror}") from None
    if path.exists() and path.is_dir():
        raise StoreError(f"database path {path} is a directory")
    try:
        conn = sqlite3.connect(str(path), timeout=30)
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        db = sqlite_utils.Database(conn)
        if db.journal_mode != "wal":
            db.enable_wal()
        conn.execute("PRAGMA synchronous = NORMAL")
        migrations.apply(db)
    except sqlite3.DatabaseError as exc:
        message = str(exc)
        if "not a database" in message or "malformed" in message:
            raise StoreError(f"{path} is not a tracker database or is corrupt ({message})") from None
        if "readonly" in message or "unable to open" in message:
            raise StoreError(f"cannot write to the database {path} ({message})") from None
        raise StoreError(f"cannot open the database {path}: {message}") from None
    return Store(db=db, path=path)


# -- digest, claims and search selects live in a second class body to keep the sections apart -------------------

def _in_window(column: str) -> str:
    return f"{column} >= :start AND {column} < :end"


class DigestQueries:
    """Reads for the digest; every list is ordered so the same window always renders the same way."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _rows(self, sql: str, params: dict) -> list[dict[str, Any]]:
        return self.store._rows(sql, params)

    def new_trials(self, start: str, end: str) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT t.*, (SELECT group_concat(query, '|') FROM query_matches m WHERE m.source = 'ctgov' AND m.record_id = t.nct_id) AS queries "
            f"FROM trials t WHERE {_in_window('t.first_seen_at')} ORDER BY t.first_seen_at DESC, t.nct_id",
            {"start": start, "end": end},
        )

    def trial_changes(self, start: str, end: str) -> list[dict[str, Any]]:
        """Changes detected in the window to trials that were already known before it."""
        return self._rows(
            "SELECT c.*, t.title, t.overall_status, t.results_first_posted_date, t.url, "
            "(SELECT group_concat(query, '|') FROM query_matches m WHERE m.source = 'ctgov' AND m.record_id = c.nct_id) AS queries "
            f"FROM trial_changes c JOIN trials t ON t.nct_id = c.nct_id WHERE {_in_window('c.detected_at')} AND t.first_seen_at < :start "
            "ORDER BY c.detected_at DESC, c.nct_id, c.id",
            {"start": start, "end": end},
        )

    def new_publications(self, start: str, end: str) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT p.pmid, p.title, p.authors, p.journal, p.journal_abbrev, p.volume, p.issue, p.pages, p.pub_date, p.sort_date, "
            "p.doi, p.publication_types, p.is_retracted, p.is_deleted, p.is_book, p.corrections, p.first_seen_at, "
            "(SELECT group_concat(query, '|') FROM query_matches m WHERE m.source = 'pubmed' AND m.record_id = p.pmid) AS queries, "
            "(SELECT group_concat(DISTINCT nct_id) FROM trial_publications tp WHERE tp.pmid = p.pmid) AS linked_trials "
            f"FROM publications p WHERE {_in_window('p.first_seen_at')} ORDER BY p.sort_date DESC, p.pmid DESC",
            {"start": start, "end": end},
        )

    def publication_changes(self, start: str, end: str) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT c.*, p.title, p.doi, "
            "(SELECT group_concat(query, '|') FROM query_matches m WHERE m.source = 'pubmed' AND m.record_id = c.pmid) AS queries "
            f"FROM publication_changes c JOIN publications p ON p.pmid = c.pmid WHERE {_in_window('c.detected_at')} AND p.first_seen_at < :start "
            "ORDER BY c.detected_at DESC, c.pmid, c.id",
            {"start": start, "end": end},
        )

    def new_links(self, start: str, end: str) -> list[dict[str, Any]]:
        """Trial-publication links first seen in the window where both records are stored."""
        return self._rows(
            "SELECT tp.nct_id, tp.pmid, group_concat(tp.source || coalesce(':' || tp.reference_type, ''), ', ') AS sources, "
            "t.title AS trial_title, p.title AS publication_title, p.is_retracted, "
            "(SELECT group_concat(query, '|') FROM query_matches m WHERE m.source = 'ctgov' AND m.record_id = tp.nct_id) AS queries "
            "FROM trial_publications tp JOIN trials t ON t.nct_id = tp.nct_id JOIN publications p ON p.pmid = tp.pmid "
            f"WHERE {_in_window('tp.first_seen_at')} GROUP BY tp.nct_id, tp.pmid ORDER BY tp.nct_id, tp.pmid",
            {"start": start, "end": end},
        )

    def failed_runs(self, start: str, end: str) -> list[dict[str, Any]]:
        """Lines whose latest run in the window did not finish well."""
        return self._rows(
            "SELECT r.* FROM runs r WHERE r.id IN (SELECT max(id) FROM runs "
            f"WHERE {_in_window('started_at')} GROUP BY source, query) AND r.status != 'ok' ORDER BY r.source, r.query",
            {"start": start, "end": end},
        )

    def year_counts(self, query: str, end: str) -> dict[str, list[tuple[int, int]]]:
        """Publications per year and trials by start year for a line, counting records known before `end`."""
        counts: dict[str, list[tuple[int, int]]] = {"publications": [], "trials": []}
        for row in self._rows(
            "SELECT source, year, sum(n) AS n FROM line_years WHERE query = :query AND first_seen_at < :end AND year > 0 "
            "GROUP BY source, year HAVING sum(n) > 0 ORDER BY source, year",
            {"query": query, "end": end},
        ):
            counts["publications" if row["source"] == "pubmed" else "trials"].append((row["year"], row["n"]))
        return counts

    def last_digest_end(self) -> str | None:
        rows = self.store._rows("SELECT max(window_end) AS end FROM digests")
        return rows[0]["end"] if rows else None

    def save_digest(self, *, created_at: str, window_start: str, window_end: str, files: list[str], summary: str) -> int:
        """One row per window: regenerating a window replaces its row instead of adding another."""
        with self.store.transaction():
            existing = self.store._rows(
                "SELECT id FROM digests WHERE window_start = ? AND window_end = ?", (window_start, window_end)
            )
            if existing:
                self.store._execute(
                    "UPDATE digests SET files = ?, summary = ? WHERE id = ?", (json.dumps(files), summary, existing[0]["id"])
                )
                return existing[0]["id"]
            cursor = self.store._execute(
                "INSERT INTO digests (created_at, window_start, window_end, files, summary) VALUES (?, ?, ?, ?, ?)",
                (created_at, window_start, window_end, json.dumps(files), summary),
            )
            return cursor.lastrowid

    def digests(self, limit: int = 50) -> list[dict[str, Any]]:
        return self.store._rows("SELECT * FROM digests ORDER BY window_end DESC, id DESC LIMIT ?", (limit,))


@dataclass(frozen=True)
class RecordFilter:
    """Filters shared by search and export. Trial-only filters (status, phase, has_results) exclude publications."""

    status: tuple[str, ...] = ()
    phase: tuple[str, ...] = ()
    line: str | None = None
    since: str | None = None  # trials: start date; publications: publication date
    until: str | None = None
    has_results: bool = False

    @property
    def trials_only(self) -> bool:
        return bool(self.status or self.phase or self.has_results)


def _trial_where(f: RecordFilter, alias: str = "t") -> tuple[list[str], list[Any]]:
    where, params = [], []
    if f.status:
        where.append(f"{alias}.overall_status IN ({','.join('?' * len(f.status))})")
        params.extend(f.status)
    if f.phase:
        where.append("(" + " OR ".join(f"{alias}.phases LIKE ?" for _ in f.phase) + ")")
        params.extend(f'%"{p}"%' for p in f.phase)
    if f.has_results:
        where.append(f"{alias}.has_results = 1")
    if f.line:
        where.append(f"EXISTS (SELECT 1 FROM query_matches m WHERE m.query = ? AND m.source = 'ctgov' AND m.record_id = {alias}.nct_id)")
        params.append(f.line)
    if f.since:
        where.append(f"{alias}.start_date >= ?")
        params.append(f.since)
    if f.until:
        where.append(f"{alias}.start_date < ?")
        params.append(f.until)
    return where, params


def _publication_where(f: RecordFilter, alias: str = "p") -> tuple[list[str], list[Any]]:
    where, params = [], []
    if f.line:
        where.append(f"EXISTS (SELECT 1 FROM query_matches m WHERE m.query = ? AND m.source = 'pubmed' AND m.record_id = {alias}.pmid)")
        params.append(f.line)
    if f.since:
        where.append(f"{alias}.sort_date >= ?")
        params.append(f.since)
    if f.until:
        where.append(f"{alias}.sort_date < ?")
        params.append(f.until)
    return where, params


TRIAL_SUMMARY = "t.nct_id, t.title, t.overall_status, t.phases, t.start_date, t.lead_sponsor, t.has_results, t.enrollment"
PUBLICATION_SUMMARY = "p.pmid, p.title, p.journal_abbrev, p.journal, p.pub_date, p.sort_date, p.doi, p.authors, p.is_retracted, p.publication_types"


SEARCH_WINDOW = 10_000


def select_search(store: Store, match: str, *, kind: str, f: RecordFilter, limit: int, window: int | None = None) -> tuple[list[dict[str, Any]], bool]:
    """FTS5 search of one table, best first (bm25), with a highlighted snippet. `match` is an FTS5 expression.

    bm25 costs about 1 microsecond per matching row, so a word found in a quarter of a million records takes a quarter
    of a second to rank. When more than `window` records match, the best of the `window` most recently stored are
    returned (and the second value says so); if the filters leave fewer than `limit` of them, all matches are ranked."""
    fts = f"{kind}_fts"
    window = window or SEARCH_WINDOW
    cut = store._rows(f"SELECT rowid FROM {fts} WHERE {fts} MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ?", (match, window))
    if cut:
        rows = _ranked(store, match, kind=kind, f=f, limit=limit, min_rowid=cut[0]["rowid"])
        if len(rows) >= limit:
            return rows, True
    return _ranked(store, match, kind=kind, f=f, limit=limit, min_rowid=None), False


def _ranked(store: Store, match: str, *, kind: str, f: RecordFilter, limit: int, min_rowid: int | None) -> list[dict[str, Any]]:
    if kind == "trials":
        where, params = _trial_where(f)
        sql = (
            f"SELECT {TRIAL_SUMMARY}, snippet(trials_fts, -1, '[', ']', '…', 12) AS snippet, trials_fts.rank AS rank "
            "FROM trials_fts JOIN trials t ON t.rowid = trials_fts.rowid WHERE trials_fts MATCH ?"
        )
    else:
        where, params = _publication_where(f)
        sql = (
            f"SELECT {PUBLICATION_SUMMARY}, snippet(publications_fts, -1, '[', ']', '…', 12) AS snippet, publications_fts.rank AS rank "
            "FROM publications_fts JOIN publications p ON p.rowid = publications_fts.rowid WHERE publications_fts MATCH ?"
        )
    if min_rowid is not None:
        where.insert(0, f"{kind}_fts.rowid >= ?")
        params.insert(0, min_rowid)
    sql += "".join(f" AND {w}" for w in where) + " ORDER BY rank LIMIT ?"
    return store._rows(sql, [match, *params, limit])


def select_export(store: Store, *, kind: str, f: RecordFilter, match: str | None = None) -> Iterator[dict[str, Any]]:
    """Whole rows (without raw payloads) for export, streamed."""
    if kind == "trials":
        where, params = _trial_where(f)
        columns = "t.*"
        base = "FROM trials t"
        fts = "trials_fts"
        key = "t.nct_id"
    else:
        where, params = _publication_where(f)
        columns = "p.*"
        base = "FROM publications p"
        fts = "publications_fts"
        key = "p.pmid"
    if match:
        where.insert(0, f"{key[:1]}.rowid IN (SELECT rowid FROM {fts} WHERE {fts} MATCH ?)")
        params.insert(0, match)
    sql = f"SELECT {columns} {base}" + (" WHERE " + " AND ".join(where) if where else "") + f" ORDER BY {key}"
    cursor = store.db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    for row in cursor:
        yield {k: v for k, v in zip(names, row) if k not in RAW_COLUMNS}


class ClaimQueries:
    """Reads and writes for the claims register."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def line_trials(self, line: str) -> list[dict[str, Any]]:
        return self.store._rows(
            "SELECT t.nct_id, t.title, t.official_title, t.overall_status, t.phases, t.has_results, t.enrollment, t.interventions, "
            "t.results_first_posted_date, t.url FROM query_matches m JOIN trials t ON t.nct_id = m.record_id "
            "WHERE m.query = ? AND m.source = 'ctgov' ORDER BY t.nct_id",
            (line,),
        )

    def line_publications(self, line: str, since: str) -> list[dict[str, Any]]:
        return self.store._rows(
            "SELECT p.pmid, p.title, p.journal, p.journal_abbrev, p.pub_date, p.sort_date, p.entrez_date, p.publication_types, p.doi, p.is_retracted "
            "FROM query_matches m JOIN publications p ON p.pmid = m.record_id "
            "WHERE m.query = ? AND m.source = 'pubmed' AND coalesce(p.entrez_date, p.sort_date) >= ? ORDER BY p.sort_date DESC, p.pmid",
            (line, since),
        )

    def last_check(self, claim_id: str, *, mode: str | None = None) -> dict[str, Any] | None:
        sql = "SELECT * FROM claim_checks WHERE claim_id = ?" + (" AND mode = ?" if mode else "") + " ORDER BY checked_at DESC, id DESC LIMIT 1"
        rows = self.store._rows(sql, (claim_id, mode) if mode else (claim_id,))
        return rows[0] if rows else None

    def save_check(self, *, claim_id: str, checked_at: str, verdict: str, summary: str, evidence: list[dict[str, Any]], mode: str) -> None:
        with self.store.transaction():
            self.store._execute(
                "INSERT INTO claim_checks (claim_id, checked_at, verdict, summary, evidence, mode) VALUES (?, ?, ?, ?, ?, ?)",
                (claim_id, checked_at, verdict, summary, json.dumps(evidence, ensure_ascii=False), mode),
            )

    def flips(self, start: str, end: str) -> list[dict[str, Any]]:
        """Checks in the window whose verdict differs from the claim's previous check."""
        return self.store._rows(
            "SELECT c.claim_id, c.checked_at, c.verdict, c.summary, prev.verdict AS previous FROM claim_checks c "
            "JOIN claim_checks prev ON prev.id = (SELECT id FROM claim_checks p WHERE p.claim_id = c.claim_id AND "
            "(p.checked_at < c.checked_at OR (p.checked_at = c.checked_at AND p.id < c.id)) ORDER BY p.checked_at DESC, p.id DESC LIMIT 1) "
            f"WHERE {_in_window('c.checked_at')} AND prev.verdict != c.verdict ORDER BY c.checked_at, c.claim_id",
            {"start": start, "end": end},
        )
