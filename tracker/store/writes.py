"""Every write: runs and their cursors, saving trials and publications with their changes, links, line matches
and per-line year counts, digests and claim checks. Callers wrap a unit of work in store.transaction()."""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator

from ..models import Change, Publication, SaveResult, Trial
from .connection import Store
from .migrations import FTS_TEXT, LINE_YEARS_BACKFILL, topic_lines_sql
from .rows import PUBLICATIONS, TRIALS, Kind, diff_row, iso, publication_row, raw_hash, trial_row

CHUNK = 500  # ids per IN (...) list, well under SQLite's parameter limit


def _chunks(ids: list[str]) -> Iterator[tuple[list[str], str]]:
    """The ids CHUNK at a time, each chunk with its '?,?,...' for an IN (...) list."""
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        yield chunk, ",".join("?" * len(chunk))


# -- runs ------------------------------------------------------------------------------------------

def save_run_start(store: Store, source: str, query: str, now: datetime) -> int:
    with store.transaction():
        cursor = store.execute(
            "INSERT INTO runs (source, query, started_at, status, fetched, new, changed, pid) VALUES (?, ?, ?, 'running', 0, 0, 0, ?)",
            (source, query, iso(now), os.getpid()),
        )
    return cursor.lastrowid


def save_run_end(
    store: Store, run_id: int, *, status: str, now: datetime, result: SaveResult | None = None, cursor: str | None = None,
    error: str | None = None, shortfall: str | None = None,
) -> None:
    result = result or SaveResult()
    with store.transaction():
        store.execute(
            "UPDATE runs SET finished_at = ?, status = ?, fetched = ?, new = ?, changed = ?, cursor = ?, error = ?, shortfall = ? WHERE id = ?",
            (iso(now), status, result.fetched, result.new, result.changed, cursor, error, shortfall, run_id),
        )


def save_interrupted_runs(store: Store, now: datetime) -> int:
    """Runs still 'running' when the update lock is free were killed; say so (their data was rolled back)."""
    with store.transaction():
        cursor = store.execute(
            "UPDATE runs SET status = 'interrupted', finished_at = ?, error = 'the process stopped before the run finished' "
            "WHERE status = 'running'",
            (iso(now),),
        )
    return cursor.rowcount


# -- records ---------------------------------------------------------------------------------------

def _existing(store: Store, kind: Kind, ids: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    year_column = "pub_year" if kind is PUBLICATIONS else "start_date"
    cols = ", ".join(dict.fromkeys([kind.key, "raw_hash", "first_seen_at", year_column, *kind.tracked]))
    for chunk, marks in _chunks(ids):
        for row in store.rows(f"SELECT {cols} FROM {kind.table} WHERE {kind.key} IN ({marks})", chunk):
            found[row[kind.key]] = row
    return found


def _save_rows(store: Store, kind: Kind, rows: list[dict[str, Any]], *, query: str, run_id: int | None, now: datetime) -> tuple[SaveResult, set[str]]:
    """Upsert rows, record tracked changes, note the query match. Returns the result and the ids that changed."""
    stamp = iso(now)
    by_id = {row[kind.key]: row for row in rows}  # a record twice in one batch: the last copy wins
    existing = _existing(store, kind, list(by_id))
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
            found = diff_row(old, row, kind.tracked, record_id)
            if found:
                result.changed += 1
                changes.extend(found)
            write.append(row)
            touched.add(record_id)
    conn = store.db.conn
    if changes:
        conn.executemany(
            f"INSERT INTO {kind.changes_table} ({kind.key}, field, old_value, new_value, detected_at, run_id) VALUES (?, ?, ?, ?, ?, ?)",
            [(c.record_id, c.field, c.old_value, c.new_value, stamp, run_id) for c in changes],
        )
    _count_years(store, kind, query, by_id, existing, stamp)  # reads the matches as they were before this save
    rewritten = [row[kind.key] for row in write if row[kind.key] in existing]
    # Each row is written once: a stored row about to be rewritten gets its match after the upsert (whose list
    # already names this line, so the match trigger finds nothing to change); every other record's match goes first
    # (a new record has no row for the trigger to touch; an unchanged one needs the trigger to gain the line).
    later = set(rewritten)
    save_matches(store, kind, query, [i for i in by_id if i not in later], stamp)
    save_text_index(store, kind, rewritten, delete=True)  # the index forgets the text it is about to lose
    if write:
        columns = list(write[0].keys())
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != kind.key)
        if kind is TRIALS:
            updates += ", removed_at = NULL, merged_into = NULL"  # returned by the registry as itself: neither removed nor merged
        sql = (
            f"INSERT INTO {kind.table} ({', '.join(columns)}, first_seen_at, updated_at, topic_lines) "
            f"VALUES ({', '.join('?' * (len(columns) + 2))}, {topic_lines_sql(kind.source, '?', plus='?')}) "
            f"ON CONFLICT({kind.key}) DO UPDATE SET {updates}, updated_at = excluded.updated_at, topic_lines = excluded.topic_lines"
        )
        # positional tuples: sqlite3 binds them faster than named parameters from dicts
        conn.executemany(sql, [(*row.values(), stamp, stamp, row[kind.key], query) for row in write])
    save_matches(store, kind, query, rewritten, stamp)
    save_text_index(store, kind, [row[kind.key] for row in write])
    return result, touched


def save_matches(store: Store, kind: Kind, query: str, ids: list[str], stamp: str) -> None:
    """The line returns these records: a new match, or one a sweep had marked gone made current again."""
    store.db.conn.executemany(
        "INSERT INTO query_matches (query, source, record_id, first_seen_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (query, source, record_id) DO UPDATE SET unmatched_at = NULL WHERE unmatched_at IS NOT NULL",
        [(query, kind.source, record_id, stamp) for record_id in ids],
    )


def save_text_index(store: Store, kind: Kind, ids: list[str], *, delete: bool = False) -> None:
    """Add the records' searchable text to the kind's FTS5 index, or with delete=True take it out (before a record is
    rewritten: an external-content index must be told the exact text it indexed). One statement per chunk, read
    from the {table}_text view: m009 says why this is not a per-row trigger. Whoever writes rows calls it."""
    table, key = kind.table, kind.key
    columns = ", ".join(FTS_TEXT[table])
    target, values = (f"{table}_fts, rowid", "'delete', text_rowid") if delete else ("rowid", "text_rowid")
    for chunk, marks in _chunks(ids):
        store.execute(
            f"INSERT INTO {table}_fts ({target}, {columns}) SELECT {values}, {columns} FROM {table}_text "
            f"WHERE text_rowid IN (SELECT rowid FROM {table} WHERE {key} IN ({marks}))",
            chunk,
        )


def _count_years(store: Store, kind: Kind, query: str, by_id: dict[str, dict[str, Any]], existing: dict[str, dict[str, Any]], stamp: str) -> None:
    """Keep line_years current: a record newly matched by this line adds one to its year; a known record whose
    year moved is moved in every line that had matched it."""
    ids = list(by_id)
    matched: set[str] = set()
    for chunk, marks in _chunks(ids):
        matched.update(r[0] for r in store.execute(
            f"SELECT record_id FROM query_matches WHERE query = ? AND source = ? AND record_id IN ({marks})",
            [query, kind.source, *chunk],
        ))
    deltas: dict[tuple[str, int, str], int] = {}
    for record_id, row in by_id.items():
        old = existing.get(record_id)
        first_seen = old["first_seen_at"] if old else stamp
        year = kind.chart_year(row)
        if record_id not in matched:
            deltas[(query, year, first_seen)] = deltas.get((query, year, first_seen), 0) + 1
        if old is not None and kind.chart_year(old) != year:
            for (line,) in store.execute(
                "SELECT query FROM query_matches WHERE source = ? AND record_id = ?", (kind.source, record_id)
            ).fetchall():
                before = (line, kind.chart_year(old), first_seen)
                after = (line, year, first_seen)
                deltas[before] = deltas.get(before, 0) - 1
                deltas[after] = deltas.get(after, 0) + 1
    if deltas:
        store.db.conn.executemany(
            "INSERT INTO line_years (query, source, year, first_seen_at, n) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (query, source, year, first_seen_at) DO UPDATE SET n = n + excluded.n",
            [(line, kind.source, year, first_seen, n) for (line, year, first_seen), n in deltas.items() if n],
        )


def save_line_years_rebuilt(store: Store) -> None:
    """Recount line_years from the matches (after rows were written around save_*, as the benchmark's bulk load does)."""
    with store.transaction():
        store.execute("DELETE FROM line_years")
        store.execute(LINE_YEARS_BACKFILL)


def save_trials(store: Store, trials: Iterable[Trial], *, query: str, run_id: int | None, now: datetime) -> SaveResult:
    trials = list(trials)
    result, touched = _save_rows(store, TRIALS, [trial_row(t) for t in trials], query=query, run_id=run_id, now=now)
    _link(store, [
        (t.nct_id, ref.pmid, "ctgov_reference", ref.type, iso(now)) for t in trials if t.nct_id in touched for ref in t.references
    ])
    return result


def save_publications(store: Store, pubs: Iterable[Publication], *, query: str, run_id: int | None, now: datetime) -> SaveResult:
    pubs = list(pubs)
    rows = [publication_row(p) for p in pubs if not p.is_deleted]
    rows.extend(_deleted_rows(store, [p for p in pubs if p.is_deleted]))
    result, touched = _save_rows(store, PUBLICATIONS, rows, query=query, run_id=run_id, now=now)
    links = []
    for p in pubs:
        if p.pmid not in touched:
            continue
        links.extend((nct, p.pmid, "pubmed_databank", None, iso(now)) for nct in p.nct_ids)
        links.extend((nct, p.pmid, "pubmed_text", None, iso(now)) for nct in p.text_nct_ids if nct not in p.nct_ids)
    _link(store, links)
    return result


SAVERS = {TRIALS.source: save_trials, PUBLICATIONS.source: save_publications}


def save_records(store: Store, source: str, records: list[Any], *, query: str, run_id: int | None, now: datetime) -> SaveResult:
    """Save a batch of one source's records (Trial for ctgov, Publication for pubmed)."""
    return SAVERS[source](store, records, query=query, run_id=run_id, now=now)


def _deleted_rows(store: Store, deleted: list[Publication]) -> list[dict[str, Any]]:
    """A DeleteCitation keeps what was stored and only marks it deleted, so the record stays readable."""
    if not deleted:
        return []
    columns = list(publication_row(deleted[0]).keys())
    stored = {r["pmid"]: r for r in store.rows(
        f"SELECT {', '.join(columns)} FROM publications WHERE pmid IN ({','.join('?' * len(deleted))})", [p.pmid for p in deleted]
    )}
    rows = []
    for pub in deleted:
        row = dict(stored.get(pub.pmid) or publication_row(pub))
        row["is_deleted"] = 1
        row["raw_hash"] = raw_hash(f"deleted:{row.get('raw_xml') or ''}")
        rows.append(row)
    return rows


def _link(store: Store, links: list[tuple]) -> None:
    if links:
        store.db.conn.executemany(
            "INSERT OR IGNORE INTO trial_publications (nct_id, pmid, source, reference_type, first_seen_at) VALUES (?, ?, ?, ?, ?)",
            links,
        )


# -- digests and claim checks ----------------------------------------------------------------------

def save_digest(store: Store, *, created_at: str, window_start: str, window_end: str, files: list[str], summary: str,
                incomplete_lines: list[str]) -> int:
    """One row per window: regenerating a window replaces its row instead of adding another. incomplete_lines: the
    topic lines whose update in the window failed, came back short or did not run."""
    incomplete = json.dumps(sorted(set(incomplete_lines)))
    with store.transaction():
        existing = store.rows("SELECT id FROM digests WHERE window_start = ? AND window_end = ?", (window_start, window_end))
        if existing:
            store.execute("UPDATE digests SET files = ?, summary = ?, incomplete_lines = ? WHERE id = ?",
                          (json.dumps(files), summary, incomplete, existing[0]["id"]))
            return existing[0]["id"]
        cursor = store.execute(
            "INSERT INTO digests (created_at, window_start, window_end, files, summary, incomplete_lines) VALUES (?, ?, ?, ?, ?, ?)",
            (created_at, window_start, window_end, json.dumps(files), summary, incomplete),
        )
        return cursor.lastrowid


def save_claim_check(store: Store, *, claim_id: str, checked_at: str, verdict: str, summary: str, evidence: list[dict[str, Any]], mode: str) -> None:
    with store.transaction():
        store.execute(
            "INSERT INTO claim_checks (claim_id, checked_at, verdict, summary, evidence, mode) VALUES (?, ?, ?, ?, ?, ?)",
            (claim_id, checked_at, verdict, summary, json.dumps(evidence, ensure_ascii=False), mode),
        )


# -- evidence signals and the registry sweep -------------------------------------------------------

def save_signals(store: Store, signals: list[Any], *, now: str, resolution: Callable[[str, str, str], str | None] | None = None) -> tuple[int, int]:
    """Make the open signals what `signals` says: a new one opens (raised_at = now), a known one keeps its raised_at
    and takes the new wording, one no longer raised is resolved (resolved_at = now, with resolution(kind, record,
    scope) saying why). None is deleted."""
    with store.transaction():
        open_rows = {(r["kind"], r["record_id"], r["scope"]): r["id"] for r in store.rows(
            "SELECT id, kind, record_id, scope FROM signals WHERE resolved_at IS NULL"
        )}
        opened = 0
        current = set()
        for s in signals:
            key = (s.kind, s.record_id, s.scope)
            current.add(key)
            detail = json.dumps(s.detail, ensure_ascii=False, sort_keys=True)
            if key in open_rows:
                store.execute("UPDATE signals SET rank = ?, summary = ?, detail = ? WHERE id = ?", (s.rank, s.summary, detail, open_rows[key]))
            else:
                store.execute(
                    "INSERT INTO signals (kind, record_id, scope, raised_at, rank, summary, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (s.kind, s.record_id, s.scope, now, s.rank, s.summary, detail),
                )
                opened += 1
        gone = [(now, resolution(*key) if resolution else None, signal_id) for key, signal_id in open_rows.items() if key not in current]
        store.db.conn.executemany("UPDATE signals SET resolved_at = ?, resolution = ? WHERE id = ?", gone)
    return opened, len(gone)


def save_sweep_start(store: Store, now: datetime) -> int:
    with store.transaction():
        return store.execute("INSERT INTO sweeps (started_at, status) VALUES (?, 'running')", (iso(now),)).lastrowid


def save_sweep_end(store: Store, sweep_id: int, *, now: datetime, status: str, checked: int = 0, removed: int = 0,
                   unmatched: int = 0, requests: int = 0, error: str | None = None) -> None:
    with store.transaction():
        store.execute(
            "UPDATE sweeps SET finished_at = ?, status = ?, checked = ?, removed = ?, unmatched = ?, requests = ?, error = ? WHERE id = ?",
            (iso(now), status, checked, removed, unmatched, requests, error, sweep_id),
        )


def save_sweep_findings(
    store: Store, *, now: datetime, present: list[str], removed: list[str], lines: dict[str, tuple[list[str], list[str]]],
    merged: dict[str, str] | None = None,
) -> None:
    """What a successful sweep found: records the registry holds (not removed), records it answered 'not found' for
    (removed since now, unless already), numbers that now lead to another record (merged: old -> new; a present
    number not among them answers as itself), and per topic line the records it still returns and those it no
    longer does."""
    stamp = iso(now)
    merged = merged or {}
    conn = store.db.conn
    conn.executemany("UPDATE trials SET removed_at = NULL WHERE nct_id = ? AND removed_at IS NOT NULL", [(i,) for i in present])
    conn.executemany("UPDATE trials SET removed_at = ? WHERE nct_id = ? AND removed_at IS NULL", [(stamp, i) for i in removed])
    conn.executemany("UPDATE trials SET merged_into = NULL WHERE nct_id = ? AND merged_into IS NOT NULL", [(i,) for i in present if i not in merged])
    conn.executemany("UPDATE trials SET merged_into = ? WHERE nct_id = ? AND merged_into IS NOT ?", [(new, old, new) for old, new in merged.items()])
    for line, (matched, gone) in lines.items():
        conn.executemany(
            "UPDATE query_matches SET unmatched_at = NULL WHERE query = ? AND source = 'ctgov' AND record_id = ? AND unmatched_at IS NOT NULL",
            [(line, i) for i in matched],
        )
        conn.executemany(
            "UPDATE query_matches SET unmatched_at = ? WHERE query = ? AND source = 'ctgov' AND record_id = ? AND unmatched_at IS NULL",
            [(stamp, line, i) for i in gone],
        )
