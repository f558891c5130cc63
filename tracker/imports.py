"""`tracker import SOURCE FILE`: records a user downloaded (a WHO ICTRP portal export) saved as that source's records
under a topic line, recorded as a run like an update's, in one transaction, then the evidence signals recomputed.
Importing the same file again changes nothing; a newer export records what changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import TrackerError
from .models import Query, SaveResult
from .rules import Thresholds
from .signals import refresh_signals
from .sources import SOURCES
from .sources.fields import watching
from .store import Store, save_records, save_run_end, save_run_start
from .topics import select_queries

IMPORTED = tuple(name for name, s in SOURCES.items() if s.read_file)  # the sources whose files `tracker import` reads
MAX_FILE = 2 * 1024**3  # an export of every trial ICTRP holds is well under this; a larger file is not an export


@dataclass
class ImportResult:
    source: str
    line: str
    held: str  # what the file held, in words
    result: SaveResult


def chosen_line(queries: list[Query], line: str | None) -> str:
    """The topic line an import is filed under: the one named, or the only one configured."""
    if line:
        return select_queries(queries, (line,))[0].name
    if len(queries) == 1:
        return queries[0].name
    names = ", ".join(q.name for q in queries) or "none configured"
    raise TrackerError(f"name the topic line this export was searched for: --line NAME (topic lines: {names})")


def import_file(store: Store, source: str, path: Path, *, line: str, now: datetime, thresholds: Thresholds,
                claim_pmids: dict[str, list[str]]) -> ImportResult:
    """Read the whole file first (a broken file leaves the database untouched), then save it as one run."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise TrackerError(f"cannot read {path}: {exc.strerror}") from None
    if size > MAX_FILE:
        raise TrackerError(f"{path} is {size / 1024**3:.1f} GB, too large for an export")
    with watching() as drift:
        records = SOURCES[source].read_file(path.read_bytes(), name=str(path))
    if not records:
        raise TrackerError(f"{path} holds no trials")
    run_id = save_run_start(store, source, line, now)
    try:
        with store.transaction():
            result = save_records(store, source, records, query=line, run_id=run_id, now=now)
            save_run_end(store, run_id, status="ok", now=now, result=result, cursor=now.date().isoformat(), drift=drift.as_json())
    except BaseException as exc:
        save_run_end(store, run_id, status="failed", now=now, error=str(exc) or type(exc).__name__)
        raise
    refresh_signals(store, now=now, thresholds=thresholds, claim_pmids=claim_pmids)
    return ImportResult(source=source, line=line, held=describe(records), result=result)


def describe(records: list[Any]) -> str:
    """What a file held, by registry: '95 trials (47 ClinicalTrials.gov, 10 EU Clinical Trials Register ...)'."""
    counts: dict[str, int] = {}
    for record in records:
        counts[record.registry] = counts.get(record.registry, 0) + 1
    parts = ", ".join(f"{n} {registry}" for registry, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"{len(records)} trial{'s' if len(records) != 1 else ''} ({parts})"
