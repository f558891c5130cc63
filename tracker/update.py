"""`tracker update`: for each topic line and source, fetch the window since its cursor, then save it in one
transaction together with the advanced cursor. A failed line records itself and leaves the last good state.

The network phase (fetching.py) runs each service's lines on a thread of their own, so paced services wait side by
side; it spools parsed records to temporary files, so retries and slow pages never hold the database's write lock.
This module is the one writer: each line's spool is stored in one short transaction, in the order the lines are
configured, and reported as it is. Memory stays flat however large the window."""

from __future__ import annotations

import logging
import os
import sqlite3
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from .errors import StoreError, TrackerError
from .gc_pause import gc_paused
from .http import HttpClient
from .models import Query, SaveResult
from .reports import WRITE_PROBLEMS
from .settings import Settings
from .rules import Thresholds
from .signals import refresh_signals
from .sources import SOURCES, Source
from .sources.fields import watching
from .fetching import Fetched, Job, NotTried, Progress, ServiceWorker, fetch_into
from .citations import watch_line
from .sweep import run_revisit, run_sweep, sweep_due
from .store import Store, damage, damaged, environment_problem, undecodable, save_interrupted_runs, save_merged_text_indexes, save_records, save_run_end, save_run_start, select_last_cursor, select_versions

log = logging.getLogger("tracker.update")



@dataclass
class LineResult:
    query: str
    source: str
    result: SaveResult = field(default_factory=SaveResult)
    error: str | None = None
    text: str | None = None  # a result that is not a line's fetch (the registry sweep) says itself


    @property
    def ok(self) -> bool:
        return self.error is None

    def summary(self) -> str:
        label = f"{self.query} [{SOURCES[self.source].label}]"
        if self.text and not self.error:
            return self.text
        if self.error:
            return f"{label}: FAILED: {self.error}"
        r = self.result
        return f"{label}: fetched {r.fetched}, new {r.new}, changed {r.changed}"


def write_fetched(store: Store, fetched: Fetched, query: Query, source: Source, *, run_id: int, now: datetime) -> SaveResult:
    """Store a fetched line whole, with its new cursor and its run's end, in one transaction."""
    total = SaveResult()
    with gc_paused(), store.transaction():
        for records in fetched.spool.batches():
            total.add(save_records(store, source.name, records, query=query.name, run_id=run_id, now=now))
        save_run_end(store, run_id, status="ok", now=now, result=total, cursor=now.date().isoformat(),
                     shortfall="; ".join(fetched.shortfalls) or None, drift=fetched.drift)
    return total


def update_line(
    store: Store,
    client: HttpClient,
    settings: Settings,
    query: Query,
    source: Source,
    *,
    now: datetime,
    full: bool = False,
    progress: Progress | None = None,
    seen_into: set[str] | None = None,
) -> SaveResult:
    """Fetch one line of one source into a spool, then write it and its new cursor in one transaction (the two
    phases run_update runs side by side across services). Any failure marks the run failed with its cause (a bug
    too: a run is never left 'running' for the next update to call interrupted) and is raised again."""
    run_id = save_run_start(store, source.name, query.name, now)
    cursor = None if full else select_last_cursor(store, source.name, query.name)
    versions = (lambda ids: select_versions(store, source.name, ids)) if source.compares_versions else None
    fetched: Fetched | None = None
    try:
        fetched = fetch_into(client, settings, query, source, cursor=cursor, now=now, progress=progress, versions=versions)
        total = write_fetched(store, fetched, query, source, run_id=run_id, now=now)
        if seen_into is not None:
            seen_into.update(fetched.seen)
        return total
    except BaseException as exc:
        _mark_run(store, run_id, now, exc)
        raise
    finally:
        if fetched is not None:
            fetched.spool.close()


def _mark_run(store: Store, run_id: int, now: datetime, exc: BaseException) -> None:
    """A run that raised, recorded as what it is: interrupted by a signal, failed with its cause, or a bug."""
    if isinstance(exc, KeyboardInterrupt):  # Ctrl-C or SIGTERM: the run is said to be what it is, at once
        _mark_failed(store, run_id, now, "stopped by a signal (SIGTERM or Ctrl-C) before the run finished", status="interrupted")
    elif isinstance(exc, TrackerError):
        _mark_failed(store, run_id, now, str(exc) or type(exc).__name__)
    else:
        _mark_failed(store, run_id, now, internal_error(exc))


def internal_error(exc: BaseException) -> str:
    """A bug's one-line description (the traceback is shown only with TRACKER_DEBUG)."""
    return f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}"


def _mark_failed(store: Store, run_id: int, now: datetime, error: str, *, status: str = "failed") -> None:
    """Record the failure; if even that fails (the database itself is the problem), the original error is the one to raise."""
    try:
        save_run_end(store, run_id, status=status, now=now, error=error)
    except Exception:  # noqa: BLE001
        log.debug("could not mark run %s failed", run_id, exc_info=True)


def run_update(
    store: Store,
    client: HttpClient,
    settings: Settings,
    queries: list[Query],
    *,
    sources: tuple[str, ...] = tuple(SOURCES),
    now: datetime,
    full: bool = False,
    on_line: Callable[[LineResult], None] | None = None,
    progress_for: Callable[[str, str], Progress | None] | None = None,
    sweep: bool = False,
    claim_pmids: dict[str, list[str]] | None = None,
    side_by_side: bool = True,
) -> list[LineResult]:
    """Update every (line, source) pair; a failing pair is reported and the others still run. Each service's lines
    are fetched on a thread of their own (side_by_side; False: one service after another), and this thread, the
    one writer, stores each line whole in the order the lines are configured, reporting it as it goes. When a
    service cannot be reached (every retry of a request failed), its remaining lines are not tried, so a dead
    network fails in bounded time; the next run fetches their windows. Then each source's citation watches, the
    registry sweep when it is due (or `sweep` forces it), and the evidence signals recomputed from what is stored."""
    results = []
    seen: dict[str, dict[str, set[str]]] = {}  # per swept source and line, the records it returned: the sweep need not ask again
    dead: set[str] = set()
    report: Callable[[LineResult], None] = on_line or (lambda line: None)
    with store.update_lock(), watching():  # a record met drifted by several lines is said once
        interrupted = save_interrupted_runs(store, now)
        if interrupted:
            log.warning("%d earlier update(s) were interrupted before finishing; their windows are fetched again", interrupted)
        workers = []
        for source in (SOURCES[name] for name in sources):
            jobs = [Job(query=q, cursor=None if full else select_last_cursor(store, source.name, q.name),
                        run_id=save_run_start(store, source.name, q.name, now)) for q in queries if source.applies(q)]
            workers.append(ServiceWorker(source, jobs, client=client, settings=settings, now=now, db_path=store.path, progress_for=progress_for))
        try:
            if side_by_side:
                for worker in workers:
                    worker.start()
            for worker in workers:
                if not side_by_side:
                    worker.run()
                source = worker.source
                for job in worker.jobs:
                    line, returned = _write_job(store, job, source, now=now)
                    if returned is not None and (source.presence or source.revisit):
                        seen.setdefault(source.name, {})[job.query.name] = returned
                    if line.error:
                        log.debug("%s", line.summary())
                    results.append(line)
                    report(line)
                for query in (q for q in queries if q.cites and source.citers):  # the line's anchors: who cites them
                    line = (_not_tried(store, source, query, worker.unreachable, now) if worker.unreachable
                            else _watch(store, client, settings, query, source, now=now))
                    results.append(line)
                    report(line)
                if worker.unreachable:
                    dead.add(source.name)
        except BaseException as exc:
            for worker in workers:  # the others stop at their next line; what is unwritten is marked as what it is
                worker.stop.set()
            for worker in workers:
                for job in worker.jobs:
                    if not job.written:
                        _mark_run(store, job.run_id, now, exc)
            raise
        # with its service unreachable a source's sweep stays due; the failed lines already say why
        for source in (SOURCES[name] for name in sources if name not in dead):
            if source.revisit and (sweep or sweep_due(store, source, now, settings.sweep_days)):
                line = _revisit(store, client, settings, queries, source, now=now, seen=seen.get(source.name, {}))
                if line.error:
                    results.append(line)
                report(line)
            if source.presence and (sweep or sweep_due(store, source, now, settings.sweep_days)):
                line = _sweep(store, client, settings, queries, source, now=now, seen=seen.get(source.name, {}))
                if line.error:  # a sweep that went well is reported, not counted among the updates
                    results.append(line)
                report(line)
        opened, resolved = refresh_signals(store, now=now, thresholds=thresholds(settings), claim_pmids=claim_pmids or {})
        if opened or resolved:
            log.info("evidence signals: %d raised, %d resolved (tracker signals)", opened, resolved)
        if merged := save_merged_text_indexes(store):
            log.debug("merged the segments of %d text index(es) a step further", merged)
    return results


def _write_job(store: Store, job: Job, source: Source, *, now: datetime) -> tuple[LineResult, set[str] | None]:
    """One (line, source) pair, once its fetch has ended: stored whole with its cursor, or its failure recorded as
    one line; with the records it returned (None when it failed)."""
    line = LineResult(query=job.query.name, source=source.name)
    fetched = None
    try:
        outcome = job.future.result()
        if isinstance(outcome, NotTried):
            job.written = True
            return _not_tried(store, source, job.query, outcome.why, now, run_id=job.run_id), None
        fetched = outcome
        line.result = write_fetched(store, fetched, job.query, source, run_id=job.run_id, now=now)
        job.written = True
        return line, fetched.seen
    except Exception as exc:
        _mark_run(store, job.run_id, now, exc)
        job.written = True
        line.error = line_failure(store, exc)  # may raise: a failure of the surroundings stops the update
        return line, None
    finally:
        if fetched is not None:
            fetched.spool.close()


def line_failure(store: Store, exc: Exception) -> str:
    """What a (line, source) pair that raised says of it, in one line. A failure of the surroundings (a full disk, a
    size limit, a read-only database) is not the line's: every other line would meet it too, so it stops the update
    (StoreError). A bug's traceback only with TRACKER_DEBUG."""
    if isinstance(exc, TrackerError):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno in WRITE_PROBLEMS:  # the spool's disk or a size limit
        raise StoreError(f"cannot write the update's spool file in {tempfile.gettempdir()}: {WRITE_PROBLEMS[exc.errno]}") from None
    if isinstance(exc, sqlite3.OperationalError) and (problem := environment_problem(exc, store.path)):
        raise StoreError(problem) from None
    if isinstance(exc, (sqlite3.DatabaseError, UnicodeDecodeError)) and (what := damage(store.path) or undecodable(exc)):
        raise damaged(store.path, what) from None  # every other line would read the same pages: the update stops here
    if os.environ.get("TRACKER_DEBUG"):
        raise exc
    return internal_error(exc)


def _watch(store: Store, client: HttpClient, settings: Settings, query: Query, source: Source, *, now: datetime) -> LineResult:
    """A line's citation watch on one source, reported as a line: what it saved, or why it stopped; an anchor that
    resolves to nothing is an error of the line after the others were saved."""
    line = LineResult(query=query.name, source=source.name)
    try:
        watch = watch_line(store, client, settings, query, source, now=now)
    except Exception as exc:
        line.error = f"citation watch: {line_failure(store, exc)}"
        return line
    line.result = watch.result
    r = watch.result
    counts = (f"{watch.anchors} anchor{'s' if watch.anchors != 1 else ''}, {watch.new_citations} new "
              f"citation{'s' if watch.new_citations != 1 else ''}, fetched {r.fetched}, new {r.new}")
    line.text = f"{query.name} [{source.label} citations]: {counts}"
    if watch.problems:
        line.error = f"citation watch ({counts}): {'; '.join(watch.problems)} (the other anchors were updated)"
    return line


def _not_tried(store: Store, source: Source, query: Query, unreachable: str, now: datetime, *, run_id: int | None = None) -> LineResult:
    """A line left out because its service could not be reached: recorded as a failed run (its own, or a new one),
    so the digest says so."""
    line = LineResult(query=query.name, source=source.name, error=f"not tried: {source.label} could not be reached ({unreachable})")
    run = run_id if run_id is not None else save_run_start(store, source.name, query.name, now)
    save_run_end(store, run, status="failed", now=now, error=line.error)
    return line


def _sweep(store: Store, client: HttpClient, settings: Settings, queries: list[Query], source: Source, *, now: datetime,
           seen: dict[str, set[str]]) -> LineResult:
    """A source's registry sweep, reported as a line: its summary, or why it failed."""
    line = LineResult(query="(registry sweep)", source=source.name)
    try:
        line.text = run_sweep(store, client, settings, queries, source, now=now, seen=seen).summary()
    except TrackerError as exc:
        line.error = f"registry sweep failed, nothing marked removed: {exc}"
    return line


def _revisit(store: Store, client: HttpClient, settings: Settings, queries: list[Query], source: Source, *, now: datetime,
             seen: dict[str, set[str]]) -> LineResult:
    """A source's stored records asked for again (every `sweep_days`, or with --sweep), reported as a line; those
    its lines returned in this very update are current and not asked again."""
    line = LineResult(query="(records asked again)", source=source.name)
    try:
        line.text = run_revisit(store, client, settings, queries, source, now=now, seen=set().union(*seen.values()) if seen else set())
    except TrackerError as exc:
        line.error = f"asking stored records again failed, nothing changed: {exc}"
    return line


def thresholds(settings: Settings) -> Thresholds:
    return Thresholds(overdue_months=settings.overdue_months, slip_months=settings.slip_months, stale_months=settings.stale_months,
                      stale_update_months=settings.stale_update_months, sweep_days=settings.sweep_days)
