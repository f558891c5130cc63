"""ClinicalTrials.gov's evidence signals: results overdue under the FDAAA results duty (12 months after primary
completion, more with a certification or extension), the primary completion date slipping, a status left stale,
and what the registry sweep found (removed, merged); and why each one cleared. Declared on the source; run by
tracker/signals.py. Pure."""

from __future__ import annotations

from datetime import date
from typing import Any

from ...labels import date_label
from ...rules import ACTIVE, RANKS, Signal, Thresholds, add_months, completion_slipped, months_between, resolve_date, stale_reasons
from ...rules import status_words as _label

EXTENSION_MONTHS = 24  # a certification of delay or an extension moves the deadline by up to two more years


def _completion_type(trial: dict[str, Any]) -> str:
    return (trial.get("primary_completion_date_type") or "type not given").lower()


def _no_results_expected(trial: dict[str, Any]) -> bool:
    """WITHDRAWN trials enrolled nobody, nor did TERMINATED ones with an actual enrolment of zero: nothing to report."""
    status = trial.get("overall_status")
    return status == "WITHDRAWN" or (status == "TERMINATED" and trial.get("enrollment_type") == "ACTUAL" and trial.get("enrollment") == 0)


def results_overdue(trial: dict[str, Any], linked_pmids: list[str], today: date, t: Thresholds) -> Signal | None:
    """An interventional trial whose primary completion passed more than `overdue_months` ago (an ACTUAL date, or a
    COMPLETED / TERMINATED trial with a past date) and with no results posted. WITHDRAWN trials and TERMINATED
    ones that enrolled nobody are expected to report nothing; submitted results are in quality control, not late."""
    status = trial.get("overall_status")
    if trial.get("study_type") != "INTERVENTIONAL" or _no_results_expected(trial):
        return None
    if trial.get("has_results") or trial.get("results_first_posted_date") or trial.get("results_first_submit_date"):
        return None
    completed = resolve_date(trial.get("primary_completion_date"))
    if completed is None or completed >= today:
        return None
    if trial.get("primary_completion_date_type") != "ACTUAL" and status not in ("COMPLETED", "TERMINATED"):
        return None
    allowed = t.overdue_months + (EXTENSION_MONTHS if trial.get("disp_first_submit_date") else 0)
    due = add_months(completed, allowed)
    if today <= due:
        return None
    since = months_between(completed, today)
    fdaaa = [w for w, flag in (("drug", trial.get("is_fda_regulated_drug")), ("device", trial.get("is_fda_regulated_device"))) if flag]
    summary = (f"No results posted on ClinicalTrials.gov {since} months after primary completion "
               f"({date_label(trial['primary_completion_date'])}, {_completion_type(trial)}); "
               f"status {_label(status)}.")
    if trial.get("disp_first_submit_date"):
        summary += f" A certification or extension was filed on {date_label(trial['disp_first_submit_date'])}; counted from the extended deadline."
    if linked_pmids:
        summary += f" Published, no registry results: PMID {', '.join(linked_pmids)}."
        rank = RANKS["results_overdue_published"]
    elif fdaaa:
        rank = RANKS["results_overdue_fdaaa"]
    else:
        rank = RANKS["results_overdue"]
    if fdaaa:
        summary += f" FDAAA-applicable (FDA-regulated {' and '.join(fdaaa)}): results were due by law 12 months after primary completion."
    detail = {"months": since, "months_overdue": months_between(due, today), "primary_completion_date": trial["primary_completion_date"],
              "due_date": due.isoformat(), "published": linked_pmids, "fdaaa_applicable": bool(fdaaa), "fda_regulated": fdaaa,
              "extension_filed": trial.get("disp_first_submit_date")}
    return Signal("results_overdue", trial["nct_id"], summary, rank, detail)


def stale_status(trial: dict[str, Any], today: date, t: Thresholds) -> Signal | None:
    """Still recruiting or active while the primary completion date passed `stale_months` ago, or the record has
    not been updated for `stale_update_months` (ClinicalTrials.gov turns such records UNKNOWN; this says it first)."""
    status = trial.get("overall_status")
    if status not in ACTIVE:
        return None
    reasons, months = stale_reasons(trial, "primary_completion_date", "primary completion date", "registry", today, t)
    if not reasons:
        return None
    return Signal("stale_status", trial["nct_id"], f"Still listed as {_label(status)} " + " and ".join(reasons) + ".",
                  RANKS["stale_status"], {"months": months, "status": status, "primary_completion_date": trial.get("primary_completion_date"),
                                          "last_update_posted_date": trial.get("last_update_posted_date")})


def removed(trial: dict[str, Any]) -> Signal:
    return Signal("removed", trial["nct_id"],
                  f"No longer in ClinicalTrials.gov: asked for {trial['nct_id']} by its number, the registry answered "
                  f"'not found' (first seen so on {date_label(trial['removed_at'][:10])}).",
                  RANKS["removed"], {"removed_at": trial["removed_at"], "last_status": trial.get("overall_status")})


def merged(trial: dict[str, Any]) -> Signal:
    return Signal("merged", trial["nct_id"],
                  f"Merged in ClinicalTrials.gov: asked for {trial['nct_id']} by its number, the registry answered with "
                  f"{trial['merged_into']} (the old number is now an alias); the record stored here no longer changes. "
                  f"Follow {trial['merged_into']}.",
                  RANKS["merged"], {"merged_into": trial["merged_into"], "last_status": trial.get("overall_status")})


def rules(trial: dict[str, Any], today: date, t: Thresholds, source: Any = None) -> list[Signal]:
    """Every signal a stored CT.gov trial raises today (its row carries `linked_pmids`, its results publications, and
    `completion_history`, its primary completion dates as stored)."""
    if trial.get("removed_at"):
        return [removed(trial)]
    if trial.get("merged_into"):  # its registry record lives on under another number: the rules read that one
        return [merged(trial)]
    found = [results_overdue(trial, trial.get("linked_pmids") or [], today, t),
             completion_slipped(trial, trial.get("completion_history") or [], t),
             stale_status(trial, today, t)]
    return [s for s in found if s]


def resolution(kind: str, trial: dict[str, Any], source: Any = None) -> str:
    """Why a CT.gov trial's signal is no longer raised, from what is stored now: a resolved overdue signal may mean
    results were posted, or only that the completion date moved. Facts of the record, as the summaries are."""
    if kind == "removed":
        return "back in ClinicalTrials.gov under its own number"
    if kind == "merged":
        return "answers under its own number again"
    if trial.get("removed_at"):
        return "removed from ClinicalTrials.gov (see that signal)"
    if trial.get("merged_into"):
        return f"merged into {trial['merged_into']} (see that signal)"
    status, completion = trial.get("overall_status"), trial.get("primary_completion_date")
    if kind == "results_overdue":
        if trial.get("has_results") or trial.get("results_first_posted_date"):
            posted = trial.get("results_first_posted_date")
            return f"results posted{f' on {date_label(posted)}' if posted else ''}"
        if trial.get("results_first_submit_date"):
            return f"results submitted on {date_label(trial['results_first_submit_date'])}, in quality control"
        if trial.get("disp_first_submit_date"):
            return f"a certification or extension was filed on {date_label(trial['disp_first_submit_date'])} (deadline moved)"
        if _no_results_expected(trial):
            return f"status now {_label(status)}{' with no one enrolled' if status == 'TERMINATED' else ''}: no results expected"
    if kind == "stale_status" and status not in ACTIVE:
        return f"status now {_label(status)}"
    if kind == "stale_status" and trial.get("last_update_posted_date"):
        return (f"record updated on {date_label(trial['last_update_posted_date'])}; primary completion date "
                f"{date_label(completion)}")
    return f"primary completion date now {date_label(completion)} ({_completion_type(trial)})"
