"""`python -m bench.save`: the write phase of an ingest alone, against the bare SQL that does the same writes.

10,000 parsed records of each kind (real size: the recordings cycled with new IDs), parsed before any clock starts,
each side writing into a fresh database of the tracker's own schema (WAL, indexes, triggers, FTS5) in one
transaction, COMMIT included. The tracker: `save_records` (rows from the records, the check against stored records,
line matches, year counts, identifiers, links, the text index). The floor: the same rows and every identifier they
carry, ready as tuples before its clock starts, written by one executemany INSERT each, one executemany for their
line matches and one INSERT ... SELECT for the text index; no year counts, no links. The two interleaved, the collector paused for both as an update pauses
it, the median of ROUNDS reported."""

from __future__ import annotations

import gc
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tracker.gc_pause import gc_paused

from .data import article_batch, study_page

N = 10_000
ROUNDS = 5
NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)
LINE = "bench"


def parsed(kind: str) -> list[Any]:
    """N Trials or Publications, as the network phase hands them to the write phase."""
    from tracker.sources import ctgov, pubmed

    if kind == "trials":
        out = []
        for start in range(0, N, 1000):
            data, raws = ctgov._split_page(study_page(start, 1000, N).decode())
            out.extend(ctgov.parse_page(ctgov.Page(data["studies"], None, None, raws)))
        return out
    return [p for start in range(0, N, 250) for p in pubmed.parse_pubmed_xml(article_batch(start, 250, N))]


def tracker_save(path: Path, kind: str, records: list[Any]) -> float:
    from tracker.store import open_store, save_records

    source = "ctgov" if kind == "trials" else "pubmed"
    store = open_store(path)
    started = time.perf_counter()
    with store.transaction():
        save_records(store, source, records, query=LINE, run_id=None, now=NOW)
    seconds = time.perf_counter() - started
    store.close()
    return seconds


def floor_rows(kind: str, records: list[Any]) -> tuple[list[str], list[tuple], list[tuple]]:
    """The rows as tuples, and every identifier the records carry as an identifiers row, ready before the clock."""
    from tracker.sources import TABLES

    source = TABLES[kind]
    rows = [source.shape.row(r) for r in records]
    identifiers = [(source.name, r.record_id, scheme, value, via) for r in records for scheme, value, via in r.identifiers]
    return list(rows[0]), [tuple(r.values()) for r in rows], identifiers


def floor_save(path: Path, kind: str, columns: list[str], tuples: list[tuple], identifiers: list[tuple]) -> float:
    from tracker.store import open_store
    from tracker.store.migrations import FTS_TEXT

    source, key = ("ctgov", "nct_id") if kind == "trials" else ("pubmed", "pmid")
    stamp = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    store = open_store(path)  # the tracker's schema; the clock starts after
    conn = store.conn
    text = ", ".join(FTS_TEXT[kind])
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(f"INSERT INTO {kind} ({', '.join(columns)}, first_seen_at, updated_at, topic_lines) "
                     f"VALUES ({', '.join('?' * len(columns))}, '{stamp}', '{stamp}', '[\"{LINE}\"]')", tuples)
    at = columns.index(key)
    conn.executemany(f"INSERT INTO query_matches (query, source, record_id, first_seen_at) VALUES ('{LINE}', '{source}', ?, '{stamp}')",
                     [(t[at],) for t in tuples])
    conn.executemany("INSERT INTO identifiers (source, record_id, scheme, value, via) VALUES (?, ?, ?, ?, ?)", identifiers)
    conn.execute(f"INSERT INTO {kind}_fts (rowid, {text}) SELECT text_rowid, {text} FROM {kind}_text")
    conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    store.close()
    return seconds


def race(kind: str) -> tuple[float, float]:
    records = parsed(kind)
    columns, tuples, identifiers = floor_rows(kind, records)
    mine, floor = [], []
    with tempfile.TemporaryDirectory(prefix="tracker-bench-save-") as tmp:
        for i in range(ROUNDS):
            for who in (("floor", "tracker") if i % 2 else ("tracker", "floor")):
                path = Path(tmp) / f"{who}-{i}.db"
                gc.collect()
                with gc_paused():  # as in an update, which pauses the collector for the whole line
                    if who == "tracker":
                        mine.append(tracker_save(path, kind, records))
                    else:
                        floor.append(floor_save(path, kind, columns, tuples, identifiers))
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
    return statistics.median(floor), statistics.median(mine)


def main() -> None:
    print(f"Write phase: {N:,} parsed records into a fresh database of the tracker's schema, one transaction, median of {ROUNDS}")
    print("| kind | bare SQL (floor) | tracker save_records | ratio |")
    print("|---|---|---|---|")
    for kind in ("trials", "publications"):
        floor, mine = race(kind)
        print(f"| {kind} | {floor:.2f} s | {mine:.2f} s | {mine / floor:.2f}x |")
    print(f"\npython {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
