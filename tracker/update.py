"""`tracker update`: for each topic line and source, fetch the window since its cursor, then save it in one
transaction together with the advanced cursor. A failed line records itself and leaves the last good state.

The network phase spools parsed records to a temporary file, so retries and slow pages never hold the database's
write lock; the write phase is one short transaction. Memory stays flat however large the window."""

from __future__ import annotations

import logging
import pickle
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, Callable, Iterable, Iterator

from .errors import HttpError, TrackerError
from .http import HttpClient
from .models import Query, SaveResult
from .settings import Settings
from .sources import ctgov, pubmed
from .store import Store

log = logging.getLogger("tracker.update")

SOURCES = ("ctgov", "pubmed")
SOURCE_NAMES = {"ctgov": "ClinicalTrials.gov", "pubmed": "PubMed"}


@dataclass
class LineResult:
    query: str
    source: str
    result: SaveResult = field(default_factory=SaveResult)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def summary(self) -> str:
        label = f"{self.query} [{SOURCE_NAMES[self.source]}]"
        if self.error:
            return f"{label}: FAILED: {self.error}"
        r = self.result
        return f"{label}: fetched {r.fetched}, new {r.new}, changed {r.changed}"


Progress = Callable[[int, "int | None"], None]  # (records so far, total if known)


class Spool:
    """Batches of parsed records in an anonymous temporary file (deleted on close, even after a crash)."""

    def __init__(self) -> None:
        self.file: IO[bytes] = tempfile.TemporaryFile(prefix="tracker-spool-")
        self.count = 0

    def add(self, batch: list[Any]) -> None:
        pickle.dump(batch, self.file, protocol=pickle.HIGHEST_PROTOCOL)
        self.count += len(batch)

    def batches(self) -> Iterator[list[Any]]:
        self.file.seek(0)
        while True:
            try:
                yield pickle.load(self.file)
            except EOFError:
                return

    def close(self) -> None:
        self.file.close()


def _ctgov_batches(store: Store, client: HttpClient, settings: Settings, query: Query, full: bool) -> Iterator[tuple[list, int | None]]:
    since = None if full else ctgov.window_start(store.last_cursor("ctgov", query.name))
    expected = None
    for page in ctgov.fetch_studies(client, settings.ctgov_url, ctgov.search_params(query, since=since)):
        expected = page.total_count if page.total_count is not None else expected
        yield list(ctgov.parse_page(page)), expected


def _pubmed_batches(store: Store, client: HttpClient, settings: Settings, query: Query, full: bool, now: datetime) -> Iterator[tuple[list, int | None]]:
    cursor = None if full else store.last_cursor("pubmed", query.name)
    for batch in pubmed.fetch_line(client, settings, query.pubmed_term, cursor=cursor, now=now, label=query.name):
        yield batch.publications, batch.expected


def update_line(
    store: Store,
    client: HttpClient,
    settings: Settings,
    query: Query,
    source: str,
    *,
    now: datetime,
    full: bool = False,
    progress: Progress | None = None,
) -> SaveResult:
    """Fetch one line of one source into a spool, then write it and its new cursor in one transaction."""
    run_id = store.start_run(source, query.name, now)
    spool = Spool()
    seen: set[str] = set()  # PubMed's entry- and modification-date windows overlap; pages may repeat while paging
    try:
        batches: Iterable[tuple[list, int | None]] = (
            _ctgov_batches(store, client, settings, query, full)
            if source == "ctgov"
            else _pubmed_batches(store, client, settings, query, full, now)
        )
        for records, expected in batches:
            fresh = [r for r in records if _key(r) not in seen]
            seen.update(_key(r) for r in fresh)
            spool.add(fresh)
            if progress:
                progress(spool.count, expected)
        save = store.save_trials if source == "ctgov" else store.save_publications
        total = SaveResult()
        with store.transaction():
            for records in spool.batches():
                total.add(save(records, query=query.name, run_id=run_id, now=now))
            cursor = now.date().isoformat()
            store.finish_run(run_id, status="ok", now=now, result=total, cursor=cursor)
        return total
    except (TrackerError, KeyboardInterrupt) as exc:
        store.finish_run(run_id, status="failed", now=now, error=str(exc) or type(exc).__name__)
        raise
    finally:
        spool.close()


def _key(record: Any) -> str:
    return record.nct_id if hasattr(record, "nct_id") else record.pmid


def applies(query: Query, source: str) -> bool:
    return bool(query.ctgov) if source == "ctgov" else bool(query.pubmed_term)


def run_update(
    store: Store,
    client: HttpClient,
    settings: Settings,
    queries: list[Query],
    *,
    sources: tuple[str, ...] = SOURCES,
    now: datetime,
    full: bool = False,
    on_line: Callable[[LineResult], None] | None = None,
    progress_for: Callable[[str, str], Progress | None] | None = None,
) -> list[LineResult]:
    """Update every (line, source) pair; a failing pair is reported and the others still run. When a service cannot
    be reached (every retry of a request failed), its remaining lines are not tried, so a dead network fails in
    bounded time; the next run fetches their windows."""
    results = []
    with store.update_lock():
        interrupted = store.mark_interrupted_runs(now)
        if interrupted:
            log.warning("%d earlier update(s) were interrupted before finishing; their windows are fetched again", interrupted)
        for source in sources:
            unreachable: str | None = None
            for query in queries:
                if not applies(query, source):
                    continue
                line = LineResult(query=query.name, source=source)
                if unreachable:
                    line.error = f"not tried: {SOURCE_NAMES[source]} could not be reached ({unreachable})"
                    store.finish_run(store.start_run(source, query.name, now), status="failed", now=now, error=line.error)
                else:
                    progress = progress_for(query.name, source) if progress_for else None
                    try:
                        line.result = update_line(store, client, settings, query, source, now=now, full=full, progress=progress)
                    except HttpError as exc:
                        line.error = str(exc)
                        if exc.exhausted:
                            unreachable = f"gave up on line {query.name}"
                    except TrackerError as exc:
                        line.error = str(exc)
                if line.error:
                    log.debug("%s", line.summary())
                results.append(line)
                if on_line:
                    on_line(line)
    return results
