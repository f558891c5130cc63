"""`tracker update`: for each topic line and source, fetch the window since its cursor and save it in one
transaction together with the advanced cursor. A failed line records itself and leaves the last good state."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from .errors import TrackerError
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
    skipped: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    def summary(self) -> str:
        label = f"{self.query} [{SOURCE_NAMES[self.source]}]"
        if self.error:
            return f"{label}: FAILED: {self.error}"
        r = self.result
        return f"{label}: fetched {r.fetched}, new {r.new}, changed {r.changed}"


Progress = Callable[[int, int | None], None]  # (records so far, total if known)


def update_ctgov(store: Store, client: HttpClient, settings: Settings, query: Query, *, now: datetime, full: bool = False, progress: Progress | None = None) -> SaveResult:
    since = None if full else ctgov.window_start(store.last_cursor("ctgov", query.name))
    params = ctgov.search_params(query, since=since)
    run_id = store.start_run("ctgov", query.name, now)
    total = SaveResult()
    try:
        with store.transaction():
            expected = None
            for page in ctgov.fetch_studies(client, settings.ctgov_url, params):
                expected = page.total_count if page.total_count is not None else expected
                total.add(store.save_trials(ctgov.parse_page(page), query=query.name, run_id=run_id, now=now))
                if progress:
                    progress(total.fetched, expected)
            store.finish_run(run_id, status="ok", now=now, result=total, cursor=now.date().isoformat())
    except (TrackerError, KeyboardInterrupt) as exc:
        store.finish_run(run_id, status="failed", now=now, error=str(exc) or type(exc).__name__)
        raise
    return total


def update_pubmed(store: Store, client: HttpClient, settings: Settings, query: Query, *, now: datetime, full: bool = False, progress: Progress | None = None) -> SaveResult:
    cursor = None if full else store.last_cursor("pubmed", query.name)
    run_id = store.start_run("pubmed", query.name, now)
    total = SaveResult()
    try:
        with store.transaction():
            for batch in pubmed.fetch_line(client, settings, query.pubmed_term, cursor=cursor, now=now, label=query.name):
                total.add(store.save_publications(batch.publications, query=query.name, run_id=run_id, now=now))
                if progress:
                    progress(total.fetched, batch.expected)
            store.finish_run(run_id, status="ok", now=now, result=total, cursor=pubmed.next_cursor(now))
    except (TrackerError, KeyboardInterrupt) as exc:
        store.finish_run(run_id, status="failed", now=now, error=str(exc) or type(exc).__name__)
        raise
    return total


UPDATERS = {"ctgov": update_ctgov, "pubmed": update_pubmed}


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
    """Update every (line, source) pair; a failing pair is reported and the others still run."""
    results = []
    with store.update_lock():
        for source in sources:
            for query in queries:
                if not applies(query, source):
                    continue
                line = LineResult(query=query.name, source=source)
                progress = progress_for(query.name, source) if progress_for else None
                try:
                    line.result = UPDATERS[source](store, client, settings, query, now=now, full=full, progress=progress)
                except TrackerError as exc:
                    line.error = str(exc)
                    log.error("%s", line.summary())
                results.append(line)
                if on_line:
                    on_line(line)
    return results
