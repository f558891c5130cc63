"""The evidence signals of every other registry's trials (sources/registrations.py's tables: EU CTIS, ISRCTN, WHO
ICTRP exports): results overdue where the registry's source declares a results duty (EU CTIS: 12 months after the
end of the trial, 6 for a paediatric one), a status left stale, the end date slipping, and removal where the
registry can be asked; and why each one cleared. Declared on each registry's Source; run by tracker/signals.py. Pure."""

from __future__ import annotations

from datetime import date
from typing import Any

from ..labels import date_label
from ..rules import ONGOING, RANKS, Signal, Thresholds, add_months, completion_slipped, months_between, resolve_date, stale_reasons
from ..rules import status_words as _label
from .base import ResultsDuty


def registration_overdue(trial: dict[str, Any], duty: ResultsDuty, label: str, today: date) -> Signal | None:
    """An ended trial of a registry with a results duty (EU CTIS: summary results within 12 months of the end of the
    trial, 6 for a paediatric trial) whose end passed longer ago than the duty allows, with no results posted.
    A trial that never started (withdrawn, expired, not authorised) has nothing to report."""
    if trial.get("overall_status") not in ("COMPLETED", "TERMINATED") or trial.get("has_results") or trial.get("results_first_posted_date"):
        return None
    ended = resolve_date(trial.get("completion_date"))
    if ended is None or ended >= today:
        return None
    paediatric = bool(trial.get("paediatric")) and duty.paediatric_months is not None
    allowed = duty.paediatric_months if paediatric else duty.months
    due = add_months(ended, allowed)
    if today <= due:
        return None
    since = months_between(ended, today)
    summary = (f"No summary results in {label} {since} months after the end of the trial ({date_label(trial['completion_date'])}); "
               f"status {_label(trial.get('overall_status'))} ({trial.get('registry_status') or 'as given'}). {duty.law} asks for them "
               f"within {allowed} months{' (a paediatric trial)' if paediatric else ''}.")
    return Signal("results_overdue", trial["record_id"], summary, RANKS["results_overdue"],
                  {"months": since, "months_overdue": months_between(due, today), "end_of_trial": trial["completion_date"],
                   "due_date": due.isoformat(), "paediatric": paediatric, "law": duty.law})


def registration_stale(trial: dict[str, Any], label: str, today: date, t: Thresholds) -> Signal | None:
    """Still listed as running while the registry's own end date passed `stale_months` ago, or with no update for
    `stale_update_months`."""
    status = trial.get("overall_status")
    if status not in ONGOING:
        return None
    reasons, months = stale_reasons(trial, "completion_date", "end date", label, today, t)
    if not reasons:
        return None
    said = f"{_label(status)} ({trial['registry_status']})" if trial.get("registry_status") else _label(status)
    return Signal("stale_status", trial["record_id"], f"Still listed as {said} " + " and ".join(reasons) + ".", RANKS["stale_status"],
                  {"months": months, "status": status, "registry_status": trial.get("registry_status"),
                   "completion_date": trial.get("completion_date"), "last_update_posted_date": trial.get("last_update_posted_date")})


def registration_removed(trial: dict[str, Any], label: str) -> Signal:
    return Signal("removed", trial["record_id"],
                  f"No longer in {label}: asked for {trial['record_id']} by its number, the registry answered with nothing "
                  f"(first seen so on {date_label(trial['removed_at'][:10])}).",
                  RANKS["removed"], {"removed_at": trial["removed_at"], "last_status": trial.get("registry_status")})


def rules(trial: dict[str, Any], today: date, t: Thresholds, source: Any) -> list[Signal]:
    """The signals of one registration. An export's copy of a registration stored from its own registry's source
    (or in a study with such a record) raises none: the registry's record speaks."""
    if source.fetch is None and trial.get("shared"):
        return []
    if trial.get("removed_at"):
        return [registration_removed(trial, source.label)]
    found = [registration_stale(trial, source.label, today, t),
             completion_slipped(trial, trial.get("end_history") or [], t, column="completion_date", named=f"End date in {source.label}")]
    if source.results_duty:
        found.append(registration_overdue(trial, source.results_duty, source.label, today))
    return [s for s in found if s]


def resolution(kind: str, trial: dict[str, Any], source: Any = None) -> str:
    """Why a registration's signal is no longer raised: its end date, its own status words."""
    status = trial.get("overall_status")
    if kind == "removed":
        return f"back in {source.label if source else 'the registry'} under its own number"
    if kind == "results_overdue" and (trial.get("has_results") or trial.get("results_first_posted_date")):
        posted = trial.get("results_first_posted_date")
        return f"results posted{f' on {date_label(posted)}' if posted else ''}"
    if status not in ONGOING or kind == "results_overdue":
        own = f" ({trial['registry_status']})" if trial.get("registry_status") else ""
        return f"status now {_label(status)}{own}"
    return f"end date now {date_label(trial.get('completion_date'))}; last update {date_label(trial.get('last_update_posted_date'))}"
