"""Every write: runs and their cursors, saving any source's records with their changes, identifiers, links, line matches
and per-line year counts, digests and claim checks. Callers wrap a unit of work in store.transaction()."""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any, Callable, Iterator

from ..models import Change, SaveResult
from .connection import Store
from . import tiers
from .derived import LINE_YEARS_BACKFILL, topic_lines_sql
from .rows import KINDS, Kind, diff_row, iso, raw_hash

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
    error: str | None = None, shortfall: str | None = None, drift: str | None = None,
) -> None:
    result = result or SaveResult()
    with store.transaction():
        store.execute(
            "UPDATE runs SET finished_at = ?, status = ?, fetched = ?, new = ?, changed = ?, cursor = ?, error = ?, shortfall = ?, "
            "drift = ? WHERE id = ?",
            (iso(now), status, result.fetched, result.new, result.changed, cursor, error, shortfall, drift, run_id),
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
    cols = ", ".join(dict.fromkeys([kind.key, "raw_hash", "first_seen_at", kind.shape.year_column, *kind.tracked]))
    for chunk, marks in _chunks(ids):
        for row in store.rows(f"SELECT {cols} FROM {kind.table} WHERE {kind.key} IN ({marks})", chunk):
            found[row[kind.key]] = row
    return found


def _save_rows(store: Store, kind: Kind, rows: list[dict[str, Any]], *, query: str, run_id: int | None,
               now: datetime) -> tuple[SaveResult, set[str], set[str]]:
    """Upsert rows, record tracked changes, note the query match. Returns the result, the ids written (new or
    changed) and those of them that were stored before."""
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
    conn = store.conn
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
        if kind.swept:
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
    return result, touched, later


def save_matches(store: Store, kind: Kind, query: str, ids: list[str], stamp: str) -> None:
    """The line returns these records: a new match, or one a sweep had marked gone made current again."""
    store.conn.executemany(
        "INSERT INTO query_matches (query, source, record_id, first_seen_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (query, source, record_id) DO UPDATE SET unmatched_at = NULL WHERE unmatched_at IS NOT NULL",
        [(query, kind.source, record_id, stamp) for record_id in ids],
    )


def save_text_index(store: Store, kind: Kind, ids: list[str], *, delete: bool = False) -> None:
    """Add the records' searchable text to the kind's FTS5 index, or with delete=True take it out (before a record is
    rewritten: an external-content index must be told the exact text it indexed). One statement per chunk, read
    from the {table}_text view: m009 says why this is not a per-row trigger. Whoever writes rows calls it."""
    table, key = kind.table, kind.key
    columns = ", ".join(kind.shape.text_columns)
    target, values = (f"{table}_fts, rowid", "'delete', text_rowid") if delete else ("rowid", "text_rowid")
    for chunk, marks in _chunks(ids):
        rows = f"(SELECT rowid FROM {table} WHERE {key} IN ({marks}))"
        store.execute(f"INSERT INTO {table}_fts ({target}, {columns}) SELECT {values}, {columns} FROM {table}_text WHERE text_rowid IN {rows}", chunk)
        if not delete:  # the newest tier: the records' text anew, in the generation that holds it or the current one
            tiers.write(store, table, kind.shape.text_columns, rows, chunk)


MERGE_PAGES = 4_000  # index pages one update's merge writes at most, per text index (16 MB; a step over every index took about half a second at full scale)
MERGE_LEVEL = 2  # FTS5's usermerge: merge a level's segments once it holds two (its default, 4, left 19 segments in an index written chunk by chunk)


def text_indexes(store: Store) -> list[str]:
    """Every FTS5 index the store keeps: each kind's whole index and the generations of its newest tier."""
    names = []
    for kind in dict.fromkeys(KINDS.values()):
        names.append(f"{kind.table}_fts")
        if tiers.exists(store, kind.table):
            names.extend(tiers.generations(kind.table))
    return names


def save_merged_text_indexes(store: Store, *, pages: int = MERGE_PAGES) -> int:
    """Merge each text index's segments a step further (FTS5's 'merge' command), as an update ends. Every write adds
    a segment, and FTS5 merges them four to a level as it writes, so a word's doclist is read from many segments side
    by side: bm25 counting "cell" over 600,000 trials in nineteen segments took about twice what it took in one. A
    merge begun goes on at the next update, so no update writes more than `pages` pages an index. Returns how many
    indexes were merged."""
    merged = 0
    for index in text_indexes(store):
        with store.transaction():
            level = store.execute(f"SELECT v FROM {index}_config WHERE k = 'usermerge'").fetchone()
            if not level or level[0] != MERGE_LEVEL:
                store.execute(f"INSERT INTO {index} ({index}, rank) VALUES ('usermerge', ?)", [MERGE_LEVEL])
            before = store.conn.total_changes
            store.execute(f"INSERT INTO {index} ({index}, rank) VALUES ('merge', ?)", [pages])
            merged += store.conn.total_changes - before >= 2  # FTS5's documented sign that the merge did work
    return merged


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
        store.conn.executemany(
            "INSERT INTO line_years (query, source, year, first_seen_at, n) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (query, source, year, first_seen_at) DO UPDATE SET n = n + excluded.n",
            [(line, kind.source, year, first_seen, n) for (line, year, first_seen), n in deltas.items() if n],
        )


def save_line_years_rebuilt(store: Store) -> None:
    """Recount line_years from the matches (after rows were written around save_*, as the benchmark's bulk load does)."""
    with store.transaction():
        store.execute("DELETE FROM line_years")
        store.execute(LINE_YEARS_BACKFILL)


def save_records(store: Store, source: str, records: list[Any], *, query: str, run_id: int | None, now: datetime) -> SaveResult:
    """Save a batch of one source's parsed records with their changes, their line match, every identifier they carry
    and the identifiers they name (links). A record the service says is deleted keeps what was stored, marked
    deleted, so it stays readable."""
    kind = KINDS[source]
    records = list(records)
    rows = [kind.shape.row(r) for r in records if not getattr(r, "is_deleted", False)]
    rows.extend(_deleted_rows(store, kind, [r for r in records if getattr(r, "is_deleted", False)]))
    result, touched, rewritten = _save_rows(store, kind, rows, query=query, run_id=run_id, now=now)
    fresh = [r for r in records if r.record_id in touched]
    stamp = iso(now)
    save_identifiers(store, source, [(r.record_id, scheme, value, via) for r in fresh for scheme, value, via in r.identifiers],
                     rewritten=rewritten)
    _link(store, [(source, r.record_id, scheme, value, via, detail, stamp) for r in fresh for scheme, value, via, detail in kind.shape.links(r)])
    return result


def _deleted_rows(store: Store, kind: Kind, deleted: list[Any]) -> list[dict[str, Any]]:
    """A deleted record keeps what was stored and is only marked deleted."""
    if not deleted:
        return []
    columns = list(kind.shape.row(deleted[0]).keys())
    stored = {r[kind.key]: r for r in store.rows(
        f"SELECT {', '.join(columns)} FROM {kind.table} WHERE {kind.key} IN ({','.join('?' * len(deleted))})", [r.record_id for r in deleted]
    )}
    rows = []
    for record in deleted:
        row = dict(stored.get(record.record_id) or kind.shape.row(record))
        row["is_deleted"] = 1
        row["raw_hash"] = raw_hash(f"deleted:{row.get(kind.shape.payload) or ''}")
        rows.append(row)
    return rows


def save_identifiers(store: Store, source: str, found: list[tuple[str, str, str, str]], *, rewritten: set[str] | None = None) -> None:
    """Every identifier (record_id, scheme, value, via) the records carry now, replacing what the `rewritten` ones
    carried before (a secondary id the registry took back is gone); None: any of them may have been stored."""
    if not found:
        return
    conn = store.conn
    ids = [i for i in dict.fromkeys(record_id for record_id, *_ in found) if rewritten is None or i in rewritten]
    for chunk, marks in _chunks(ids):
        conn.execute(f"DELETE FROM identifiers WHERE source = ? AND record_id IN ({marks})", [source, *chunk])
    conn.executemany("INSERT OR IGNORE INTO identifiers (source, record_id, scheme, value, via) VALUES (?, ?, ?, ?, ?)",
                     [(source, *item) for item in found])


def _link(store: Store, links: list[tuple]) -> None:
    """A record names an identifier (a study's reference names a PMID, a paper names an NCT number): kept with the
    channel it came by and when it was first seen."""
    if links:
        store.conn.executemany(
            "INSERT OR IGNORE INTO links (source, record_id, scheme, value, via, detail, first_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            links,
        )


# -- digests and claim checks ----------------------------------------------------------------------

def save_digest(store: Store, *, created_at: str, window_start: str, window_end: str, files: list[str], summary: str,
                incomplete_lines: list[str], file_stem: str, ad_hoc: bool = False) -> int:
    """One row per window: regenerating a window replaces its row instead of adding another. incomplete_lines: the
    topic lines whose update in the window failed, came back short or did not run; file_stem: the name its files
    carry; ad_hoc: a window the user chose, which the next scheduled digest does not start after."""
    incomplete = json.dumps(sorted(set(incomplete_lines)))
    with store.transaction():
        existing = store.rows("SELECT id FROM digests WHERE window_start = ? AND window_end = ?", (window_start, window_end))
        if existing:
            store.execute("UPDATE digests SET files = ?, summary = ?, incomplete_lines = ?, file_stem = ?, ad_hoc = ? WHERE id = ?",
                          (json.dumps(files), summary, incomplete, file_stem, int(ad_hoc), existing[0]["id"]))
            return existing[0]["id"]
        cursor = store.execute(
            "INSERT INTO digests (created_at, window_start, window_end, files, summary, incomplete_lines, file_stem, ad_hoc) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (created_at, window_start, window_end, json.dumps(files), summary, incomplete, file_stem, int(ad_hoc)),
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
                    "INSERT INTO signals (kind, record_id, scope, raised_at, rank, summary, detail, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (s.kind, s.record_id, s.scope, now, s.rank, s.summary, detail, s.source or None),
                )
                opened += 1
        gone = [(now, resolution(*key) if resolution else None, signal_id) for key, signal_id in open_rows.items() if key not in current]
        store.conn.executemany("UPDATE signals SET resolved_at = ?, resolution = ? WHERE id = ?", gone)
    return opened, len(gone)


def save_sweep_start(store: Store, source: str, now: datetime) -> int:
    with store.transaction():
        return store.execute("INSERT INTO sweeps (source, started_at, status) VALUES (?, ?, 'running')", (source, iso(now))).lastrowid


def save_sweep_end(store: Store, sweep_id: int, *, now: datetime, status: str, checked: int = 0, removed: int = 0,
                   unmatched: int = 0, requests: int = 0, error: str | None = None) -> None:
    with store.transaction():
        store.execute(
            "UPDATE sweeps SET finished_at = ?, status = ?, checked = ?, removed = ?, unmatched = ?, requests = ?, error = ? WHERE id = ?",
            (iso(now), status, checked, removed, unmatched, requests, error, sweep_id),
        )


def save_sweep_findings(
    store: Store, source: str, *, now: datetime, present: list[str], removed: list[str], lines: dict[str, tuple[list[str], list[str]]],
    merged: dict[str, str] | None = None,
) -> None:
    """What a successful sweep of one source found: records the service holds (not removed), records it answered
    'not found' for (removed since now, unless already), ids that now lead to another record (merged: old -> new; a
    present id not among them answers as itself), and per topic line the records it still returns and those it no
    longer does."""
    kind = KINDS[source]
    table, key = kind.table, kind.key
    stamp = iso(now)
    merged = merged or {}
    conn = store.conn
    conn.executemany(f"UPDATE {table} SET removed_at = NULL WHERE {key} = ? AND removed_at IS NOT NULL", [(i,) for i in present])
    conn.executemany(f"UPDATE {table} SET removed_at = ? WHERE {key} = ? AND removed_at IS NULL", [(stamp, i) for i in removed])
    conn.executemany(f"UPDATE {table} SET merged_into = NULL WHERE {key} = ? AND merged_into IS NOT NULL", [(i,) for i in present if i not in merged])
    conn.executemany(f"UPDATE {table} SET merged_into = ? WHERE {key} = ? AND merged_into IS NOT ?", [(new, old, new) for old, new in merged.items()])
    for line, (matched, gone) in lines.items():
        conn.executemany(
            "UPDATE query_matches SET unmatched_at = NULL WHERE query = ? AND source = ? AND record_id = ? AND unmatched_at IS NOT NULL",
            [(line, source, i) for i in matched],
        )
        conn.executemany(
            "UPDATE query_matches SET unmatched_at = ? WHERE query = ? AND source = ? AND record_id = ? AND unmatched_at IS NULL",
            [(stamp, line, source, i) for i in gone],
        )


# -- citation watches -------------------------------------------------------------------------------

def save_resolved_doi(store: Store, doi: str, pmid: str, now: datetime) -> None:
    with store.transaction():
        store.execute("INSERT OR REPLACE INTO resolved_dois (doi, pmid, resolved_at) VALUES (?, ?, ?)", (doi, pmid, iso(now)))


def save_citations(store: Store, source: str, pairs: list[tuple[str, str]], now: datetime) -> None:
    """(anchor PMID, citing record) pairs a source's citation channel found: links 'cites' from the citing record
    to the anchor, with when they were first seen."""
    _link(store, [(source, citer, "pmid", anchor, f"{source}_cites", "cites", iso(now)) for anchor, citer in pairs])
