"""Evidence signals: what needs a clinician's or editor's attention, computed from stored records alone. Every rule
lives here (results_overdue, completion_slipped, stale_status, removed, merged, no_longer_matched, retracted_linked);
refresh_signals recomputes them all after an update and keeps their history. A signal states a public-record fact,
never a finding of misconduct."""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from .labels import date_drift, date_label
from .models import PARTIAL_DATE_RE
from .sources import SOURCES, ResultsDuty
from .store import Store, iso, save_signals, select_signal_inputs

ONGOING = (*("RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION", "ACTIVE_NOT_RECRUITING"), "ONGOING")  # other registries' "still running"
KINDS = ("retracted_linked", "removed", "results_overdue", "completion_slipped", "stale_status", "merged", "no_longer_matched")
ACTIVE = ("RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION", "ACTIVE_NOT_RECRUITING")
# Lower ranks are more serious; within a rank the larger delay comes first.
RANKS = {"retracted_linked": 10, "removed": 20, "results_overdue_fdaaa": 30, "results_overdue": 40, "completion_slipped": 50,
         "stale_status": 55, "results_overdue_published": 60, "merged": 65, "no_longer_matched": 70}
EXTENSION_MONTHS = 24  # a certification of delay or an extension moves the deadline by up to two more years


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


def _label(status: str | None) -> str:
    return (status or "no status").replace("_", " ").capitalize()


def _completion_type(trial: dict[str, Any]) -> str:
    return (trial.get("primary_completion_date_type") or "type not given").lower()


def _no_results_expected(trial: dict[str, Any]) -> bool:
    """WITHDRAWN trials enrolled nobody, nor did TERMINATED ones with an actual enrolment of zero: nothing to report."""
    status = trial.get("overall_status")
    return status == "WITHDRAWN" or (status == "TERMINATED" and trial.get("enrollment_type") == "ACTUAL" and trial.get("enrollment") == 0)


# -- the rules -------------------------------------------------------------------------------------

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


def stale_status(trial: dict[str, Any], today: date, t: Thresholds) -> Signal | None:
    """Still recruiting or active while the primary completion date passed `stale_months` ago, or the record has
    not been updated for `stale_update_months` (ClinicalTrials.gov turns such records UNKNOWN; this says it first)."""
    status = trial.get("overall_status")
    if status not in ACTIVE:
        return None
    completed = resolve_date(trial.get("primary_completion_date"))
    updated = resolve_date(trial.get("last_update_posted_date"))
    reasons, months = [], 0
    if completed and add_months(completed, t.stale_months) < today:
        months = months_between(completed, today)
        reasons.append(f"{months} months after its primary completion date ({date_label(trial['primary_completion_date'])})")
    if updated and add_months(updated, t.stale_update_months) < today:
        months = max(months, months_between(updated, today))
        reasons.append(f"with no registry update since {date_label(trial['last_update_posted_date'])}")
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


def no_longer_matched(nct_id: str, line: str, since: str) -> Signal:
    return Signal("no_longer_matched", nct_id,
                  f"Still in the registry but no longer returned by topic line {line} (its conditions, interventions or "
                  f"terms were edited); noticed on {date_label(since[:10])}.",
                  RANKS["no_longer_matched"], {"line": line, "unmatched_at": since}, scope=line)


# -- the other registries' trials (sources/registrations.py) ------------------------------------------

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
    ended, updated = resolve_date(trial.get("completion_date")), resolve_date(trial.get("last_update_posted_date"))
    reasons, months = [], 0
    if ended and add_months(ended, t.stale_months) < today:
        months = months_between(ended, today)
        reasons.append(f"{months} months after its end date ({date_label(trial['completion_date'])})")
    if updated and add_months(updated, t.stale_update_months) < today:
        months = max(months, months_between(updated, today))
        reasons.append(f"with no update in {label} since {date_label(trial['last_update_posted_date'])}")
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


def registration_signals(trial: dict[str, Any], today: date, t: Thresholds) -> list[Signal]:
    """The signals of one registration of another registry. An export's copy of a registration stored from its own
    registry's source (or of one in a study with such a record) raises none: the registry's record speaks."""
    source = SOURCES.get(trial["source"])
    if source is None or (source.fetch is None and trial.get("shared")):
        return []
    if trial.get("removed_at"):
        return [registration_removed(trial, source.label)]
    found = [registration_stale(trial, source.label, today, t),
             completion_slipped(trial, trial.get("end_history") or [], t, column="completion_date", named=f"End date in {source.label}")]
    if source.results_duty:
        found.append(registration_overdue(trial, source.results_duty, source.label, today))
    return [s for s in found if s]


def retracted_linked(pub: dict[str, Any], trials: list[str], claims: list[str]) -> Signal | None:
    if not trials and not claims:
        return None
    uses = ([f"linked to {', '.join(trials)}"] if trials else []) + ([f"cited by claim {', '.join(claims)}"] if claims else [])
    notice = next((c.get("pmid") for c in json.loads(pub.get("corrections") or "[]") if c.get("type") == "RetractionIn"), None)
    summary = f"Retracted publication (PMID {pub['pmid']}) " + " and ".join(uses) + "."
    if notice:
        summary += f" Retraction notice: PMID {notice}."
    return Signal("retracted_linked", pub["pmid"], summary, RANKS["retracted_linked"],
                  {"trials": trials, "claims": claims, "retraction_notice": notice, "title": pub.get("title")})


# -- all of them -----------------------------------------------------------------------------------

def compute_signals(inputs: dict[str, Any], *, now: datetime, thresholds: Thresholds, claim_pmids: dict[str, list[str]]) -> list[Signal]:
    """Every signal the stored data supports today, each stamped with the source of its record. A record whose
    dates are missing or malformed gets none."""
    today = now.date()
    found: list[Signal] = []
    for trial in inputs["trials"]:
        of_trial: list[Signal | None]
        nct = trial["nct_id"]
        if trial.get("removed_at"):
            of_trial = [removed(trial)]
        elif trial.get("merged_into"):  # its registry record lives on under another number: the rules read that one
            of_trial = [merged(trial)]
        else:
            of_trial = [results_overdue(trial, inputs["links"].get(nct, []), today, thresholds),
                        completion_slipped(trial, inputs["completion_history"].get(nct, []), thresholds),
                        stale_status(trial, today, thresholds)]
        found.extend(replace(signal, source=trial["source"]) for signal in of_trial if signal)
    for trial in inputs.get("registrations", ()):
        found.extend(replace(signal, source=trial["source"]) for signal in registration_signals(trial, today, thresholds))
    found.extend(replace(no_longer_matched(m["record_id"], m["query"], m["unmatched_at"]), source=m["source"]) for m in inputs["unmatched"])
    for pub in inputs["retracted"]:
        signal = retracted_linked(pub, pub["linked_trials"], claim_pmids.get(pub["pmid"], []))
        if signal:
            found.append(replace(signal, source=pub["source"]))
    return found


def resolution(kind: str, record_id: str, trial: dict[str, Any] | None, retracted: set[str]) -> str:
    """Why a signal is no longer raised, from what is stored now (the trial's signal inputs; the retracted PMIDs): a
    resolved overdue signal may mean results were posted, or only that the completion date moved. Facts of the
    record, as the summaries are."""
    if kind == "no_longer_matched":
        return "returned by the topic line again"
    if kind == "retracted_linked":
        if record_id not in retracted:
            return "no longer marked retracted in PubMed"
        return "no longer linked to a tracked trial or cited by a claim"
    if trial is None:
        return "no longer stored"
    if kind == "removed":
        return f"back in {SOURCES[trial.get('source') or 'ctgov'].label} under its own number"  # CT.gov's rows say their source
    if kind == "merged":
        return "answers under its own number again"
    if trial.get("removed_at"):
        return "removed from ClinicalTrials.gov (see that signal)"
    if trial.get("merged_into"):
        return f"merged into {trial['merged_into']} (see that signal)"
    status, completion = trial.get("overall_status"), trial.get("primary_completion_date")
    if "registry_status" in trial:  # another registry's trial: its end date, its own status words
        if kind == "results_overdue" and (trial.get("has_results") or trial.get("results_first_posted_date")):
            posted = trial.get("results_first_posted_date")
            return f"results posted{f' on {date_label(posted)}' if posted else ''}"
        if status not in ONGOING or kind == "results_overdue":
            own = f" ({trial['registry_status']})" if trial.get("registry_status") else ""
            return f"status now {_label(status)}{own}"
        return f"end date now {date_label(trial.get('completion_date'))}; last update {date_label(trial.get('last_update_posted_date'))}"
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


def refresh_signals(store: Store, *, now: datetime, thresholds: Thresholds, claim_pmids: dict[str, list[str]]) -> tuple[int, int]:
    """Recompute and store: new signals open, cleared ones are resolved with why, none is deleted. Returns (opened,
    resolved)."""
    inputs = select_signal_inputs(store)
    signals = compute_signals(inputs, now=now, thresholds=thresholds, claim_pmids=claim_pmids)
    trials = {r["record_id"]: r for r in inputs["registrations"]} | {t["nct_id"]: t for t in inputs["trials"]}  # CT.gov's own first
    retracted = {p["pmid"] for p in inputs["retracted"]}
    return save_signals(store, signals, now=iso(now), resolution=lambda kind, record_id, scope: resolution(kind, record_id, trials.get(record_id), retracted))
