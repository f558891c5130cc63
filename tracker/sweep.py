"""The registry sweep: windowed updates never see a record that vanished, so every stored trial is asked for again
by its NCT number (filter.ids, as many per request as the URL allows) at least every `sweep_days`. A record missing
from a successful answer is asked for once more by itself before it is called removed; an error is never read as a
removal, and a number that now leads to another record (an alias after a merge) is recorded as merged into it.
Each CT.gov topic line is also asked which of its stored trials it still returns."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import TrackerError
from .http import HttpClient
from .models import Query
from .settings import Settings
from .sources import Source
from .store import (
    Store,
    iso,
    save_sweep_end,
    save_sweep_findings,
    save_sweep_start,
    select_any_trial,
    select_last_sweep,
    select_line_trial_ids,
    select_revisited,
    select_trial_ids,
    save_records,
)

log = logging.getLogger("tracker.sweep")


@dataclass
class SweepResult:
    label: str = ""
    checked: int = 0
    removed: list[str] | None = None
    merged: dict[str, str] | None = None
    unmatched: int = 0
    requests: int = 0

    def summary(self) -> str:
        text = f"registry sweep [{self.label}]: checked {self.checked}, removed {len(self.removed or [])}, no longer matched {self.unmatched}"
        if self.merged:
            text += ", merged " + ", ".join(f"{a} -> {b}" for a, b in self.merged.items())
        return text + f" ({self.requests} requests)"


def sweep_due(store: Store, source: Source, now: datetime, days: int) -> bool:
    """A sweep is due `days` after the last good one; not while no trial is stored (a first update whose lines all
    failed, a PubMed-only database): there is nothing to ask about, and a sweep recorded then would put off the first
    real one by `days`."""
    if not select_any_trial(store, source.name):
        return False
    last = select_last_sweep(store, source.name)
    return last is None or last["started_at"] <= iso(now - timedelta(days=days))


def run_sweep(
    store: Store, client: HttpClient, settings: Settings, queries: list[Query], source: Source, *, now: datetime,
    seen: dict[str, set[str]] | None = None,
) -> SweepResult:
    """Ask the source's registry about every record stored from it and every line's stored matches; store what it
    said. Records a line returned in this very update (`seen`: line -> ids) are known present and matched, and are
    not asked again. On any failure nothing is marked and the sweep is recorded as failed (the next update tries
    again)."""
    presence = source.presence
    assert presence is not None, f"{source.label} cannot be swept"
    seen = seen or {}
    known = set().union(*seen.values()) if seen else set()
    ids = select_trial_ids(store, source.name)
    sweep_id = save_sweep_start(store, source.name, now)
    result = SweepResult(label=source.label, checked=len(ids), removed=[], merged={})
    try:
        present, result.requests = presence.returned(client, settings, [i for i in ids if i not in known], None)
        present |= known & set(ids)
        for nct in (i for i in ids if i not in present):
            answer = presence.lookup(client, settings, nct)
            result.requests += 1
            if answer is None:
                result.removed.append(nct)
            else:
                present.add(nct)
                if answer != nct:  # the number is now an alias: the record was merged, not removed
                    result.merged[nct] = answer
                    log.warning("%s is now an alias of %s in %s (records merged)", nct, answer, source.label)
        lines: dict[str, tuple[list[str], list[str]]] = {}
        for query in (q for q in queries if source.applies(q)):
            stored = [i for i in select_line_trial_ids(store, source.name, query.name) if i not in result.removed]
            known_here = seen.get(query.name, set())
            ask = [i for i in stored if i not in known_here]
            returned = set(known_here)
            if ask:
                params = {k: v for k, v in query.params[source.name].items() if k not in presence.ignored_filters}
                answered, requests = presence.returned(client, settings, ask, params)
                returned |= answered
                result.requests += requests
            gone = [i for i in stored if i not in returned and i not in result.merged]
            lines[query.name] = ([i for i in stored if i in returned], gone)
            result.unmatched += len(gone)
        with store.transaction():
            save_sweep_findings(store, source.name, now=now, present=sorted(present), removed=result.removed, lines=lines, merged=result.merged)
        save_sweep_end(store, sweep_id, now=now, status="ok", checked=len(ids), removed=len(result.removed),
                       unmatched=result.unmatched, requests=result.requests)
        return result
    except (TrackerError, KeyboardInterrupt) as exc:
        save_sweep_end(store, sweep_id, now=now, status="failed", requests=result.requests, error=str(exc) or type(exc).__name__)
        raise


def run_revisit(store: Store, client: HttpClient, settings: Settings, queries: list[Query], source: Source, *,
                now: datetime, seen: set[str] | None = None) -> str:
    """The stored records a source asks for again whatever the window (its shape's `revisit`: Europe PMC's preprints
    not yet published, whose record gains its journal version without being indexed again), each line's saved under
    that line, recorded as a sweep of the source. On a failure nothing is saved and the next update tries again."""
    sweep_id = save_sweep_start(store, source.name, now)
    asked, changed, requests = 0, 0, client.requests_made
    try:
        per_line = {q.name: [i for i in select_revisited(store, source.name, q.name) if i not in (seen or ())]
                    for q in queries if source.applies(q)}
        ids = sorted({i for found in per_line.values() for i in found})
        records = {r.record_id: r for r in source.revisit(client, settings, ids)} if ids else {}
        with store.transaction():
            for line, found in per_line.items():
                batch = [records[i] for i in found if i in records]
                if batch:
                    changed += save_records(store, source.name, batch, query=line, run_id=None, now=now).changed
        asked = len(ids)
        save_sweep_end(store, sweep_id, now=now, status="ok", checked=asked, requests=client.requests_made - requests)
    except (TrackerError, KeyboardInterrupt) as exc:
        save_sweep_end(store, sweep_id, now=now, status="failed", requests=client.requests_made - requests, error=str(exc) or type(exc).__name__)
        raise
    return f"{source.label}: asked again for {asked} stored record{'s' if asked != 1 else ''} ({changed} changed)"
