"""What every evidence-signal rule shares, whichever source's records it reads: the Signal a rule raises, the
thresholds, the kinds and their ranks, the statuses that still run, the date arithmetic of deadlines (a partial date
read to the end of its period, the reading most favourable to the sponsor) and the slipped-date rule every registry's
dates are read by. Each source's own rules live in its folder (sources/ctgov/signals.py, sources/registry_signals.py)
and are declared on its Source; tracker/signals.py runs them. Pure."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from .labels import date_drift, date_label
from .models import PARTIAL_DATE_RE

KINDS = ("retracted_linked", "removed", "results_overdue", "completion_slipped", "stale_status", "merged", "no_longer_matched")
ACTIVE = ("RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION", "ACTIVE_NOT_RECRUITING")
# Lower ranks are more serious; within a rank the larger delay comes first.
RANKS = {"retracted_linked": 10, "removed": 20, "results_overdue_fdaaa": 30, "results_overdue": 40, "completion_slipped": 50,
         "stale_status": 55, "results_overdue_published": 60, "merged": 65, "no_longer_matched": 70}
ONGOING = (*ACTIVE, "ONGOING")  # still running, in other registries' words too (CTIS's "Authorised")


@dataclass(frozen=True)
class Thresholds:
    overdue_months: int = 12  # results due this long after primary completion
    slip_months: int = 6  # a primary completion date moved later by at least this much
    stale_months: int = 12  # still "recruiting" this long after primary completion
    stale_update_months: int = 24  # ... or with no registry update for this long
    sweep_days: int = 7  # every stored trial re-checked against the registry at least this often


@dataclass(frozen=True)
class Signal:
    kind: str
    record_id: str
    summary: str
    rank: int
    detail: dict[str, Any] = field(default_factory=dict)
    scope: str = ""  # the topic line, for no_longer_matched
    source: str = ""  # the source whose record it is about (signals.source)

# -- dates -----------------------------------------------------------------------------------------

def resolve_date(text: str | None) -> date | None:
    """A registry date, partial ones resolved to the end of their period (YYYY-MM: the month's last day; YYYY:
    31 December), the reading most favourable to the sponsor. None when missing or malformed."""
    match = PARTIAL_DATE_RE.match((text or "").strip())
    if not match:
        return None
    year, month, day = int(match.group(1)), match.group(2), match.group(3)
    try:
        if day:
            return date(year, int(month), int(day))
        if month:
            return date(year, int(month), calendar.monthrange(year, int(month))[1])
        return date(year, 12, 31)
    except ValueError:
        return None


def add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def months_between(start: date, end: date) -> int:
    """Whole months from start to end (0 when end is not later)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if add_months(start, months) > end:
        months -= 1
    return max(months, 0)


def status_words(status: str | None) -> str:
    return (status or "no status").replace("_", " ").capitalize()


def stale_reasons(trial: dict[str, Any], column: str, named: str, registry: str, today: date, t: Thresholds) -> tuple[list[str], int]:
    """Why a trial still listed as running reads as stale, in words, and by how many months: its `column` date (the
    primary completion, another registry's end date) passed `stale_months` ago, or `registry` has had no update of
    it for `stale_update_months`."""
    ended, updated = resolve_date(trial.get(column)), resolve_date(trial.get("last_update_posted_date"))
    reasons, months = [], 0
    if ended and add_months(ended, t.stale_months) < today:
        months = months_between(ended, today)
        reasons.append(f"{months} months after its {named} ({date_label(trial[column])})")
    if updated and add_months(updated, t.stale_update_months) < today:
        months = max(months, months_between(updated, today))
        reasons.append(f"with no {registry} update since {date_label(trial['last_update_posted_date'])}")
    return reasons, months


def completion_slipped(trial: dict[str, Any], history: list[dict[str, Any]], t: Thresholds, *,
                       column: str = "primary_completion_date", named: str = "Primary completion date") -> Signal | None:
    """The primary completion date (another registry's: its end date, `column`) moved later by `slip_months` or
    more against the earliest date stored (a record first stored without one counts from the first it gave). A move
    is a change of date, not a date given, taken away or made more precise (2026-03 -> 2026-03-15)."""
    if not history:
        return None
    values = [history[0]["old_value"], *(h["new_value"] for h in history)]
    first_text = next((v for v in values if resolve_date(v)), None)
    first, current = resolve_date(first_text), resolve_date(trial.get(column))
    if first is None or current is None or current < add_months(first, t.slip_months):
        return None
    moves = sum(1 for h in history if resolve_date(h["old_value"]) and resolve_date(h["new_value"]) and date_drift(h["old_value"], h["new_value"]))
    months = months_between(first, current)
    summary = (f"{named} moved from {date_label(first_text)} to {date_label(trial[column])} "
               f"({months} months later), {moves} time{'s' if moves != 1 else ''} since first stored.")
    return Signal("completion_slipped", trial.get("nct_id") or trial["record_id"], summary, RANKS["completion_slipped"],
                  {"months": months, "first": first_text, "current": trial[column], "moves": moves})
