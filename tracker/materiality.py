"""How much a tracked trial change matters to a clinician reading the digest: high, medium or low, by rules kept
here and nowhere else. High: the trial stopped (terminated, withdrawn, suspended), results posted, the primary
completion moved by SLIP_MONTHS or more, enrolment cut by a quarter or more. Medium: any other status change, dates,
enrolment. Low: the rest (titles, sponsors, phases written differently ...). Pure."""

from __future__ import annotations

from typing import Any

from .models import PARTIAL_DATE_RE

LEVELS = ("high", "medium", "low")  # the digest shows a trial's changes, and its trials, in this order
STOPPED = ("TERMINATED", "WITHDRAWN", "SUSPENDED")
SLIP_MONTHS = 6
CUT = 0.25  # enrolment cut by at least this share of what was planned
DATES = ("start_date", "primary_completion_date", "completion_date", "results_first_posted_date")
MEDIUM = ("overall_status", "registry_status", "enrollment", "enrollment_type", "why_stopped", "results_first_submit_date", *DATES)


def by_level(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries with a "level" (a change said, or a trial by its highest change), high first; stable within a level."""
    return sorted(entries, key=lambda entry: LEVELS.index(entry.get("level", "low")))


def months_apart(old: str | None, new: str | None) -> int | None:
    """Whole months between two registry dates at month precision (a year alone reads as its January); None when
    either is missing or malformed."""
    a, b = PARTIAL_DATE_RE.match(old or ""), PARTIAL_DATE_RE.match(new or "")
    if not a or not b:
        return None
    return abs((int(b.group(1)) * 12 + int(b.group(2) or 1)) - (int(a.group(1)) * 12 + int(a.group(2) or 1)))


def _number(text: str | None) -> int | None:
    return int(text) if text and text.strip().isdigit() else None


def change_level(field: str, old: str | None, new: str | None) -> str:
    """The level of one change of one field (old and new as the change history keeps them)."""
    if field == "overall_status" and new in STOPPED:
        return "high"
    if field == "has_results" and new == "true":
        return "high"
    if field == "primary_completion_date" and (moved := months_apart(old, new)) is not None and moved >= SLIP_MONTHS:
        return "high"
    if field == "enrollment" and (before := _number(old)) and (after := _number(new)) is not None and (before - after) / before >= CUT:
        return "high"
    if field in MEDIUM or field == "has_results":
        return "medium"
    return "low"
