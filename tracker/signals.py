"""Evidence signals: what needs a clinician's or editor's attention, computed from stored records alone. Each
source declares its own rules (Source.signal_rules: sources/ctgov/signals.py, sources/registry_signals.py) and why
a signal of its clears (Source.signal_resolution); the rules every record kind shares live here (no_longer_matched,
retracted_linked), with refresh_signals, which runs them all after an update and keeps their history. A signal
states a public-record fact, never a finding of misconduct."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any

from .labels import date_label
from .rules import KINDS, RANKS, Signal, Thresholds, completion_slipped, resolve_date  # noqa: F401  (the signal vocabulary, importable from here)
from .sources import SOURCES
from .store import Store, iso, save_signals, select_signal_inputs


def no_longer_matched(nct_id: str, line: str, since: str) -> Signal:
    return Signal("no_longer_matched", nct_id,
                  f"Still in the registry but no longer returned by topic line {line} (its conditions, interventions or "
                  f"terms were edited); noticed on {date_label(since[:10])}.",
                  RANKS["no_longer_matched"], {"line": line, "unmatched_at": since}, scope=line)


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
    """Every signal the stored data supports today, each stamped with the source of its record: each trial by its
    source's rules, then the rules every kind shares. A record whose dates are missing or malformed gets none."""
    today = now.date()
    found: list[Signal] = []
    for trial in trial_rows(inputs):
        source = SOURCES.get(trial["source"])
        if source is not None and source.signal_rules:
            found.extend(replace(signal, source=source.name) for signal in source.signal_rules(trial, today, thresholds, source))
    found.extend(replace(no_longer_matched(m["record_id"], m["query"], m["unmatched_at"]), source=m["source"]) for m in inputs["unmatched"])
    for pub in inputs["retracted"]:
        signal = retracted_linked(pub, pub["linked_trials"], claim_pmids.get(pub["pmid"], []))
        if signal:
            found.append(replace(signal, source=pub["source"]))
    return found


def trial_rows(inputs: dict[str, Any]) -> list[dict[str, Any]]:
    """Every stored trial the rules read, CT.gov's with its results publications and its primary completion history."""
    rows = [{**t, "linked_pmids": inputs["links"].get(t["nct_id"], []), "completion_history": inputs["completion_history"].get(t["nct_id"], [])}
            for t in inputs["trials"]]
    return rows + list(inputs.get("registrations", ()))


def resolution(kind: str, record_id: str, trial: dict[str, Any] | None, retracted: set[str]) -> str:
    """Why a signal is no longer raised, from what is stored now (the record's signal inputs; the retracted PMIDs),
    in its source's words for a trial's signal."""
    if kind == "no_longer_matched":
        return "returned by the topic line again"
    if kind == "retracted_linked":
        if record_id not in retracted:
            return "no longer marked retracted in PubMed"
        return "no longer linked to a tracked trial or cited by a claim"
    if trial is None:
        return "no longer stored"
    source = SOURCES[trial.get("source") or "ctgov"]  # rows stored before m017 are CT.gov's
    return source.signal_resolution(kind, trial, source) if source.signal_resolution else "no longer raised"


def refresh_signals(store: Store, *, now: datetime, thresholds: Thresholds, claim_pmids: dict[str, list[str]]) -> tuple[int, int]:
    """Recompute and store: new signals open, cleared ones are resolved with why, none is deleted. Returns (opened,
    resolved)."""
    inputs = select_signal_inputs(store)
    signals = compute_signals(inputs, now=now, thresholds=thresholds, claim_pmids=claim_pmids)
    trials = {r["record_id"]: r for r in inputs["registrations"]} | {t["nct_id"]: t for t in inputs["trials"]}  # CT.gov's own first
    retracted = {p["pmid"] for p in inputs["retracted"]}
    return save_signals(store, signals, now=iso(now), resolution=lambda kind, record_id, scope: resolution(kind, record_id, trials.get(record_id), retracted))
