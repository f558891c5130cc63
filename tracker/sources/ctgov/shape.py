"""How a ClinicalTrials.gov trial is kept: the trials table, its tracked fields (what a clinician wants to hear
changed), its list and text-search columns, and the Trial -> row mapping. Pure."""

from __future__ import annotations

from typing import Any, Iterator

import json

from ...models import Trial
from ..base import Shape
from ..rows import json_text, raw_hash
from .identity import study_identifiers

JSON_COLUMNS = ("phases", "conditions", "interventions", "countries", "study_references")
TRACKED = (
    "title",
    "overall_status",
    "why_stopped",
    "phases",
    "enrollment",
    "enrollment_type",
    "has_results",
    "results_first_submit_date",  # results submitted, in quality control: the evidence is on its way
    "start_date",
    "primary_completion_date",
    "completion_date",
    "lead_sponsor",
)
TEXT_COLUMNS = ("title", "official_title", "conditions", "interventions", "lead_sponsor")


def trial_row(trial: Trial) -> dict[str, Any]:
    row = dict(trial.__dict__)  # the fields in declaration order (a frozen dataclass without slots)
    row["study_references"] = row.pop("references")
    del row["identifiers"]  # kept in the identifiers table
    for column in JSON_COLUMNS:
        row[column] = json_text(row[column])
    row["has_results"] = int(trial.has_results)
    for flag in ("is_fda_regulated_drug", "is_fda_regulated_device"):
        row[flag] = None if row[flag] is None else int(row[flag])
    row["raw_hash"] = raw_hash(trial.raw_json)
    return row


def trial_links(trial: Trial) -> Iterator[tuple[str, str, str, str | None]]:
    """The papers a study cites in its referencesModule, with the registry's type (RESULT, BACKGROUND, DERIVED)."""
    for ref in trial.references:
        yield "pmid", ref.pmid, "ctgov_reference", ref.type


def stored_trial(row: dict[str, Any]) -> tuple[tuple[tuple[str, str, str], ...], list[tuple[str, str, str, str | None]]]:
    """A stored trial's identifiers, read again from its raw JSON (its references were already kept as links)."""
    try:
        study = json.loads(row["raw_json"]) if row.get("raw_json") else {}
    except ValueError:
        study = {}
    ident = (study.get("protocolSection") or {}).get("identificationModule") if isinstance(study, dict) else None
    return study_identifiers(row["nct_id"], ident if isinstance(ident, dict) else {}), []


SHAPE = Shape(table="trials", key="nct_id", changes_table="trial_changes", tracked=TRACKED, json_columns=JSON_COLUMNS,
              text_columns=TEXT_COLUMNS, payload="raw_json", year_column="start_date", row=trial_row, links=trial_links,
              backfill=stored_trial)
