"""How a trial registry other than ClinicalTrials.gov keeps its trials: one table per registry source with the same
columns (a Registration's fields, named as a CT.gov trial's are), its tracked fields, list and text columns, the
Registration -> row mapping, the papers a registration names as its results, and the readers every registry's
parser shares (dates written dd/mm/yyyy, phases written in words, plain text). Pure."""

from __future__ import annotations

import re
from typing import Any, Iterator

from ..identifiers import TRIAL_SCHEMES, normalise, recognise
from ..models import Registration
from .base import Shape
from .fields import text
from .rows import json_text, raw_hash

JSON_COLUMNS = ("phases", "conditions", "interventions", "countries")
TRACKED = (
    "title",
    "overall_status",
    "registry_status",
    "why_stopped",
    "phases",
    "enrollment",
    "has_results",
    "results_first_posted_date",
    "start_date",
    "primary_completion_date",
    "completion_date",
    "lead_sponsor",
)
TEXT_COLUMNS = ("title", "official_title", "conditions", "interventions", "lead_sponsor")
# the table's columns in order, the payload last (m016 says why); the store makes the table from them
COLUMNS: dict[str, type] = {
    "trial_id": str, "registry": str, "title": str, "official_title": str, "acronym": str, "overall_status": str,
    "registry_status": str, "why_stopped": str, "phases": str, "registry_phase": str, "study_type": str,
    "enrollment": int, "enrollment_type": str, "lead_sponsor": str, "conditions": str, "interventions": str,
    "countries": str, "start_date": str, "primary_completion_date": str, "completion_date": str,
    "first_posted_date": str, "last_update_posted_date": str, "results_first_posted_date": str, "has_results": int,
    "results_url": str, "paediatric": int, "url": str, "raw_hash": str, "first_seen_at": str, "updated_at": str,
    "topic_lines": str, "removed_at": str, "merged_into": str, "raw_json": str,
}
PUBMED_URL_RE = re.compile(r"(?:pubmed\.ncbi\.nlm\.nih\.gov/|ncbi\.nlm\.nih\.gov/pubmed/)(\d{1,9})")


def registration_row(record: Registration) -> dict[str, Any]:
    row = dict(record.__dict__)
    del row["identifiers"]  # kept in the identifiers table
    for column in JSON_COLUMNS:
        row[column] = json_text(row[column])
    row["has_results"] = int(record.has_results)
    row["paediatric"] = None if record.paediatric is None else int(record.paediatric)
    payload = row.pop("raw_json")
    row["raw_hash"] = raw_hash(payload)
    row["raw_json"] = payload
    return row


def registration_links(record: Registration) -> Iterator[tuple[str, str, str, str | None]]:
    """A results publication the registry points at (a PubMed address as its results link)."""
    found = PUBMED_URL_RE.search(record.results_url or "")
    if found:
        yield "pmid", found.group(1), "registry_results", "RESULT"


def nothing_to_backfill(row: dict[str, Any]) -> tuple[tuple, list]:
    """These tables came after m017: every row was saved with its identifiers."""
    return (), []


def registration_shape(table: str) -> Shape:
    """The shape of one registry source's table (`ctis_trials` ...) and its changes table (`ctis_trial_changes`)."""
    return Shape(table=table, key="trial_id", changes_table=f"{table[:-1]}_changes", tracked=TRACKED,
                 json_columns=JSON_COLUMNS, text_columns=TEXT_COLUMNS, payload="raw_json", year_column="start_date",
                 row=registration_row, links=registration_links, backfill=nothing_to_backfill, columns=COLUMNS)


# -- readers every registry's parser shares ---------------------------------------------------------

ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4"}
PHASE_RE = re.compile(r"phase\s*([1-4]|iv|iii|ii|i)\b(?:\s*[/-]\s*(?:phase\s*)?([1-4]|iv|iii|ii|i)\b)?", re.IGNORECASE)
SELECTED_RE = re.compile(r"\(phase\s*(iv|iii|ii|i)\)\s*:\s*(yes|no)", re.IGNORECASE)


def phases_of(value: Any) -> tuple[str, ...]:
    """A phase written in words, as registries write it ("Therapeutic exploratory (Phase II)", "Phase 2/Phase 3",
    "Phase1/Phase2", "Human pharmacology (Phase I): no ... (Phase III): yes", "Not Applicable"), as the common
    vocabulary's phases; () when it names none."""
    raw = text(value)
    if not raw:
        return ()
    lowered = raw.lower()
    if SELECTED_RE.search(raw):  # EUCTR's checklist: the phases marked yes
        numbers = [ROMAN[m.group(1).lower()] for m in SELECTED_RE.finditer(raw) if m.group(2).lower() == "yes"]
    elif "early phase 1" in lowered or "phase 0" in lowered:
        return ("EARLY_PHASE1",)
    elif lowered in ("n/a", "na", "not applicable", "not selected", "0") or "not applicable" in lowered:
        return ("NA",) if lowered not in ("not selected", "0") else ()
    else:
        numbers = []
        for found in PHASE_RE.finditer(raw):
            numbers.extend(ROMAN.get(n.lower(), n) for n in found.groups() if n)
        if not numbers and raw.isdigit() and raw in "1234":
            numbers = [raw]
    return tuple(f"PHASE{n}" for n in sorted(set(numbers)))


def trial_ids(texts: Any, own: tuple[str, str]) -> list[tuple[str, str, str]]:
    """(scheme, value, via) of a record's own id and its secondary ids (a list of strings, or one ';'-separated
    string): trial registrations recognised by their pattern, anything else kept as 'other'; each once."""
    found: dict[tuple[str, str], str] = {own: "own"}
    items = texts.split(";") if isinstance(texts, str) else list(texts or ())
    for item in items:
        value = text(item)
        if not value:
            continue
        scheme_value = recognise(value, TRIAL_SCHEMES) or ("other", value)
        found.setdefault(scheme_value, "secondary_id")
    return [(scheme, value, via) for (scheme, value), via in found.items()]


def registered_as(scheme: str, value: str) -> tuple[str, str] | None:
    """(scheme, normal form) of an id given in a known scheme, or None."""
    normal = normalise(scheme, value)
    return (scheme, normal) if normal else None
