"""What the digest and `show` tell a reader a record shows, beyond its fields: a trial's approach (evidence.py) and
its posted results at a glance (the source's read_results, from the stored payload); a paper's evidence level
(evidence.py) and the conclusions its structured abstract states (the source's read_conclusions). The digest
orders new papers by evidence level, then date. Reads payloads through the store; nothing is stored."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from .evidence import paper_level, trial_approach
from .sources import SOURCES
from .store import Store, select_payloads


def _list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    try:
        found = json.loads(value) if value else []
    except (TypeError, ValueError):
        return []
    return [v for v in found if isinstance(v, str)] if isinstance(found, list) else []


def _payloads(store: Store, records: list[tuple[str, str]], wanted: str) -> dict[tuple[str, str], str]:
    """The stored payloads of those records whose source can read `wanted` from one (read_results, read_conclusions)."""
    found: dict[tuple[str, str], str] = {}
    for source in dict.fromkeys(s for s, _ in records):
        if source in SOURCES and getattr(SOURCES[source], wanted):
            ids = [r for s, r in records if s == source]
            found.update({(source, r): raw for r, raw in select_payloads(store, source, ids).items() if raw})
    return found


def results_of(source: str, payload: str | None):
    """A stored trial's posted results as its source reads them (an object with glance() and complete()), or None."""
    reader = SOURCES[source].read_results if source in SOURCES else None
    return reader(payload) if reader and payload else None


def conclusions_of(source: str, payload: str | None) -> str | None:
    """A stored paper's conclusions as its source reads them from its abstract, or None."""
    reader = SOURCES[source].read_conclusions if source in SOURCES else None
    return reader(payload) if reader and payload else None


def brief_trials(entries: list[dict[str, Any]]) -> None:
    """Each digest trial entry gains its approach (from its interventions: no payload is read)."""
    for entry in entries:
        approach = trial_approach(_list(entry.get("interventions")), entry.get("title"))
        entry["approach"] = approach.name + (f"; also {', '.join(approach.also)}" if approach.also else "")


def brief_papers(entries: list[dict[str, Any]]) -> None:
    """Each new paper gains its evidence level, with what it was read from (its columns: no payload is read)."""
    for entry in entries:
        entry["level"] = asdict(paper_level(_list(entry.get("publication_types")), _list(entry.get("mesh_terms"))))


def read_shown(store: Store, trials: list[dict[str, Any]], papers: list[dict[str, Any]]) -> None:
    """What only a payload says, read for the entries a digest shows (a baseline shows ten of thousands): a trial's
    results at a glance when they are posted (a new trial with results, or results posted in the window), a paper's
    conclusions where its abstract states them."""
    posting = [e for e in trials if e.get("results_posted")]
    results = _payloads(store, [(e["source"], e["record_id"]) for e in posting], "read_results")
    for entry in trials:
        found = results_of(entry["source"], results.get((entry["source"], entry["record_id"]))) if entry.get("results_posted") else None
        entry["results"] = found.glance() if found else []
    abstracts = _payloads(store, [(e["source"], e["record_id"]) for e in papers], "read_conclusions")
    for entry in papers:
        entry["conclusions"] = conclusions_of(entry["source"], abstracts.get((entry["source"], entry["record_id"])))


def by_evidence(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """New papers by evidence level (strongest first), then date (newest first; undated last), then id."""
    ordered = sorted(entries, key=lambda e: (e["source"], e["record_id"]))
    ordered.sort(key=lambda e: e.get("sort_date") or "", reverse=True)
    return sorted(ordered, key=lambda e: e.get("level", {}).get("rank", 99))


def shown_trial(store: Store, source: str, record_id: str, record: dict[str, Any]) -> dict[str, Any]:
    """`show`'s reading of a trial: its approach, and its posted results whole (structured, and as lines)."""
    approach = trial_approach(_list(record.get("interventions")), record.get("title"))
    payload = _payloads(store, [(source, record_id)], "read_results").get((source, record_id))
    results = results_of(source, payload)
    return {"approach": asdict(approach), "results": asdict(results) if results else None,
            "results_text": results.complete() if results else []}


def shown_paper(store: Store, source: str, record_id: str, record: dict[str, Any]) -> dict[str, Any]:
    """`show`'s reading of a paper: its evidence level and its conclusions."""
    level = paper_level(_list(record.get("publication_types")), _list(record.get("mesh_terms")))
    payload = _payloads(store, [(source, record_id)], "read_conclusions").get((source, record_id))
    return {"evidence_level": asdict(level), "conclusions": conclusions_of(source, payload)}
