"""How stored values read to a person: statuses, phases, registry and PubMed dates, the UTC window, each tracked
change as a sentence ("Status: Terminated → Completed"), correction notices with their PMID, signal kinds. Pure."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .materiality import LEVELS, STOPPED, change_level
from .models import PARTIAL_DATE_RE

SIGNAL_LABELS = {
    "retracted_linked": "Retracted evidence",
    "removed": "Removed from the registry",
    "merged": "Merged into another registry record",
    "results_overdue": "Results overdue",
    "completion_slipped": "Completion date slipped",
    "stale_status": "Status out of date",
    "no_longer_matched": "No longer matched by a topic line",
}

PHASE_NAMES = {"EARLY_PHASE1": "Early phase 1", "PHASE1": "1", "PHASE2": "2", "PHASE3": "3", "PHASE4": "4", "NA": "N/A"}


def plural(n: int, noun: str) -> str:
    """'1 trial', '3 trials'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def phase_label(phases_json: str | None) -> str:
    phases = json.loads(phases_json) if phases_json else []
    if not phases:
        return "not given"
    labels = [PHASE_NAMES.get(p, p) for p in phases]
    if all(label.isdigit() for label in labels):
        return "Phase " + "/".join(labels)
    return ", ".join(labels)


def status_label(status: str | None) -> str:
    return status.replace("_", " ").capitalize() if status else "not given"


MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
CORRECTION_LABELS = {"RetractionIn": "Retraction notice", "RetractionOf": "Retraction of", "ErratumIn": "Erratum",
                     "ExpressionOfConcernIn": "Expression of concern", "UpdateIn": "Updated version",
                     "PartialRetractionIn": "Partial retraction notice"}


def date_label(value: str | None) -> str:
    """A registry or PubMed date as a reader writes it: 2026-03-15 -> 15 Mar 2026, 2026-03 -> Mar 2026."""
    if not value:
        return "none"
    match = PARTIAL_DATE_RE.match(value)
    if not match or not 1 <= int(match.group(2) or 1) <= 12 or not 1 <= int(match.group(3) or 1) <= 31:
        return value
    year, month, day = match.groups()
    if day:
        return f"{int(day)} {MONTH_NAMES[int(month) - 1]} {year}"
    return f"{MONTH_NAMES[int(month) - 1]} {year}" if month else year


def date_drift(old: str | None, new: str | None) -> str:
    """' (slipped)' or ' (brought forward)' when a date moved, compared at the precision both give: 2026-03 ->
    2026-03-15 only states the day (an estimated month becoming an actual date), not a move."""
    if not old or not new or not PARTIAL_DATE_RE.match(old) or not PARTIAL_DATE_RE.match(new):
        return ""
    common = min(len(old), len(new))
    before, after = old[:common], new[:common]
    return " (slipped)" if after > before else " (brought forward)" if after < before else ""


def time_label(moment: str) -> str:
    """An ISO timestamp as a reader writes it: 2026-11-16T06:00:01Z -> 16 Nov 2026, 06:00 UTC."""
    if len(moment) < 16 or moment[10] != "T":
        return moment
    return f"{date_label(moment[:10])}, {moment[11:16]} UTC"


def _phase_text(value: str | None) -> str:
    return phase_label(json.dumps(value.split(", "))) if value else "not given"


@dataclass(frozen=True)
class Said:
    """One change as a clinician reads it, with how much it matters (materiality.py)."""

    text: str
    level: str


def describe_changes(changes: list[dict[str, Any]], trial: dict[str, Any]) -> list[Said]:
    """Changes of one trial as sentences a clinician reads (Terminated → Completed, Mar 2026 → Sep 2026), each with
    its level, high first; a stop says why beside it (the registry's whyStopped, or that it gives none)."""
    by_field = {c["field"]: c for c in changes}
    said: list[Said] = []
    for c in changes:
        f, old, new = c["field"], c["old_value"], c["new_value"]
        level = change_level(f, old, new)
        if f == "has_results":
            if new == "true":
                posted = trial.get("results_first_posted_date")
                text = f"Results posted{f' on {date_label(posted)}' if posted else ''}"
            else:
                text = "Results withdrawn from the record"
        elif f == "enrollment_type" and "enrollment" in by_field:
            continue
        elif f == "results_first_submit_date":
            if new and "has_results" not in by_field:  # posted in the same update: "Results posted" says it
                text = f"Results submitted on {date_label(new)} (in quality control, not yet posted)"
            elif not new:
                text = "Results submission withdrawn from the record"
            else:
                continue
        elif f == "enrollment":
            kind = by_field.get("enrollment_type")
            old_kind = f" ({kind['old_value'].lower()})" if kind and kind["old_value"] else ""
            new_kind = f" ({kind['new_value'].lower()})" if kind and kind["new_value"] else ""
            text = f"Enrollment: {old or 'none'}{old_kind} → {new or 'none'}{new_kind}"
        elif f == "overall_status":
            own = by_field.get("registry_status")  # the registry's own words beside the common reading
            words = f" ({own['old_value'] or 'none'} → {own['new_value'] or 'none'})" if own else ""
            text = f"Status: {status_label(old)} → {status_label(new)}{words}"
            if new in STOPPED and "why_stopped" not in by_field:
                why = trial.get("why_stopped")
                text += f"; why stopped: {why}" if why else "; the registry gives no reason why it stopped"
        elif f == "registry_status" and "overall_status" in by_field:
            continue
        elif f == "phases":
            text = f"Phase: {_phase_text(old)} → {_phase_text(new)}"
        elif f in ("completion_date", "primary_completion_date", "start_date"):
            label = f.replace("_", " ").capitalize()
            drift = date_drift(old, new) if f != "start_date" else ""
            text = f"{label}: {date_label(old)} → {date_label(new)}{drift}"
        elif f == "why_stopped":
            text = f"Why stopped: {new}" if new and not old else f"Why stopped: {old or 'none'} → {new or 'none'}"
            stop = by_field.get("overall_status")
            level = change_level("overall_status", stop["old_value"], stop["new_value"]) if stop else level
        else:
            text = f"{f.replace('_', ' ').capitalize()}: {old or 'none'} → {new or 'none'}"
        said.append(Said(text, level))
    return sorted(said, key=lambda s: LEVELS.index(s.level))


def describe_publication_changes(changes: list[dict[str, Any]], record: dict[str, Any] | None = None) -> tuple[list[str], list[dict[str, str]]]:
    """(sentences, notices): a retraction, erratum or expression of concern becomes a notice with its PMID and link."""
    texts: list[str] = []
    notices: list[dict[str, str]] = []
    for c in changes:
        f, old, new = c["field"], c["old_value"], c["new_value"]
        if f == "is_retracted":
            texts.append("Retracted" if new == "true" else "Retraction withdrawn")
        elif f == "published_as" and new:  # a preprint's journal version appeared
            where = (record or {}).get("published_in")
            journal_id = f"PMID {new.split(':', 1)[1]}" if new.startswith("MED:") else new
            texts.append(f"Now published{f' in {where}' if where else ''} ({journal_id})")
        elif f == "published_as":
            texts.append("No longer linked to a journal version")
        elif f == "is_deleted":
            texts.append("Removed from PubMed" if new == "true" else "Restored in PubMed")
        elif f == "corrections":
            before = set((old or "").split(", "))
            for item in (new or "").split(", "):
                if not item or item in before:
                    continue
                kind, _, pmid = item.partition(" ")
                notices.append({"label": CORRECTION_LABELS.get(kind, kind), "pmid": pmid,
                                "url": f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/" if pmid else ""})
        else:
            texts.append(f"{f.replace('_', ' ').capitalize()}: {old or 'none'} → {new or 'none'}")
    return texts, notices
