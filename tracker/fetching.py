"""The network phase of an update: one line of one source fetched into a spool (fetch_into), and each service's
lines fetched one after another on a thread of its own (ServiceWorker), so five paced services wait side by side
and a run takes about as long as its slowest service, not their sum. Nothing here writes to the store: the update's
one writer (update.py) takes each line's spool in the order the lines are configured and stores it whole with its
cursor, or not at all."""

from __future__ import annotations

import contextvars
import pickle
import tempfile
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Callable, Iterator

from .errors import HttpError
from .gc_pause import gc_paused
from .http import HttpClient
from .models import Query
from .settings import Settings
from .sources import Source
from .sources.fields import watching
from .store import Store, reader_connection, select_versions

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


@dataclass
class Fetched:
    """A line's window, fetched and parsed, waiting for the writer."""

    spool: Spool
    seen: set[str] = field(default_factory=set)  # every record the line returned (the sweep need not ask again)
    shortfalls: list[str] = field(default_factory=list)
    drift: str | None = None  # runs.drift: the fields met in an unexpected form
    versions: dict[str, Any] = field(default_factory=dict)  # record -> its last update, for a source comparing versions


@dataclass(frozen=True)
class NotTried:
    """A line left out because its service could not be reached earlier in this run."""

    why: str


def fetch_into(client: HttpClient, settings: Settings, query: Query, source: Source, *, cursor: str | None, now: datetime,
               progress: Progress | None = None, versions: Callable[[list[str]], dict[str, Any]] | None = None) -> Fetched:
    """Fetch one line's window into a spool. The collector stays paused for the whole line: each page's million
    young objects die by reference count before any pass walks them."""
    fetched = Fetched(spool=Spool())
    try:
        with gc_paused(), watching() as drift:
            for batch in source.batches(client, settings, query, cursor=cursor, now=now, stored_versions=versions):
                fresh = [r for r in batch.records if r.record_id not in fetched.seen]  # windows and pages may repeat
                fetched.seen.update(r.record_id for r in fresh)
                fetched.seen.update(batch.unchanged)  # returned by the line today, as stored
                if source.compares_versions:
                    fetched.versions.update((r.record_id, getattr(r, "last_update_posted_date", None)) for r in fresh)
                fetched.spool.add(fresh)
                if batch.shortfall:
                    fetched.shortfalls.append(batch.shortfall)
                if progress:
                    progress(fetched.spool.count, batch.expected)
        fetched.drift = drift.as_json()
        return fetched
    except BaseException:
        fetched.spool.close()
        raise


@dataclass
class Job:
    query: Query
    cursor: str | None
    run_id: int
    future: Future = field(default_factory=Future)  # a Fetched, a NotTried, or the line's exception
    written: bool = False  # the writer has stored it or recorded its failure


class ServiceWorker:
    """One service's lines, fetched in order at the service's pace on a daemon thread (a stopped update does not
    wait for it). When every retry of a request failed, its remaining lines are not tried: a dead network fails in
    bounded time. A source that compares versions reads what is stored on a connection of its own, and what its
    earlier lines of this run fetched, so a record two lines return is fetched once."""

    def __init__(self, source: Source, jobs: list[Job], *, client: HttpClient, settings: Settings, now: datetime, db_path: Path,
                 progress_for: Callable[[str, str], Progress | None] | None = None) -> None:
        self.source, self.jobs = source, jobs
        self.client, self.settings, self.now, self.db_path = client, settings, now, db_path
        self.progress_for = progress_for
        self.stop = threading.Event()
        self.unreachable: str | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Run on a thread, in a copy of the caller's context (the run's drift watch is the parent of each line's)."""
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self.run,), name=f"fetch-{self.source.name}", daemon=True)
        self._thread.start()

    def run(self) -> None:
        reader: Store | None = None
        fetched_here: dict[str, Any] = {}
        try:
            for job in self.jobs:
                if self.stop.is_set():
                    job.future.set_result(NotTried("the update was stopped"))
                    continue
                if self.unreachable:
                    job.future.set_result(NotTried(self.unreachable))
                    continue
                versions = None
                if self.source.compares_versions:
                    if reader is None:
                        reader = Store.over(reader_connection(self.db_path), self.db_path)
                    versions = _versions(reader, self.source.name, fetched_here)
                progress = self.progress_for(job.query.name, self.source.name) if self.progress_for else None
                try:
                    fetched = fetch_into(self.client, self.settings, job.query, self.source, cursor=job.cursor, now=self.now,
                                         progress=progress, versions=versions)
                except HttpError as exc:
                    if exc.exhausted:
                        self.unreachable = f"gave up on line {job.query.name}"
                    job.future.set_exception(exc)
                except BaseException as exc:  # noqa: BLE001 - the writer reads it as the line's failure
                    job.future.set_exception(exc)
                else:
                    fetched_here.update(fetched.versions)
                    job.future.set_result(fetched)
        finally:
            if reader is not None:
                reader.close()


def _versions(reader: Store, source: str, fetched_here: dict[str, Any]) -> Callable[[list[str]], dict[str, Any]]:
    def versions(ids: list[str]) -> dict[str, Any]:
        found = select_versions(reader, source, ids)
        found.update((i, fetched_here[i]) for i in ids if i in fetched_here)
        return found
    return versions
