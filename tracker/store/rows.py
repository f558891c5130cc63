"""Model <-> row mapping: the record kinds (table, key, changes table, tracked fields), how a Trial or Publication
becomes a row, how a tracked field is written into its *_changes table, and how list columns read back. Pure."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

import xxhash

from ..models import Change, Publication, Trial, as_plain

TRIAL_JSON_COLUMNS = ("phases", "conditions", "interventions", "countries", "study_references")
PUBLICATION_JSON_COLUMNS = ("authors", "publication_types", "mesh_terms", "keywords", "nct_ids", "corrections")
JSON_COLUMNS = frozenset(TRIAL_JSON_COLUMNS + PUBLICATION_JSON_COLUMNS + ("topic_lines",))  # topic_lines: kept by the database (m008)
RAW_COLUMNS = ("raw_json", "raw_xml", "raw_hash")  # kept for back-filling, never shown or exported
# Fields whose change a clinician wants to hear about.
TRACKED_TRIAL_FIELDS = (
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
TRACKED_PUBLICATION_FIELDS = ("title", "is_retracted", "is_deleted", "corrections", "doi")


@dataclass(frozen=True)
class Kind:
    """A kind of record: the source that feeds it (runs.source, query_matches.source) and where it is kept."""

    source: str
    table: str
    key: str
    changes_table: str
    tracked: tuple[str, ...]
    json_columns: tuple[str, ...]

    def chart_year(self, row: dict[str, Any]) -> int:
        """The year a record is charted under (0: unknown): publication year, or a trial's start year."""
        if self.table == "publications":
            return int(row.get("pub_year") or 0)
        start = row.get("start_date") or ""
        return int(start[:4]) if start[:4].isdigit() else 0


TRIALS = Kind("ctgov", "trials", "nct_id", "trial_changes", TRACKED_TRIAL_FIELDS, TRIAL_JSON_COLUMNS)
PUBLICATIONS = Kind("pubmed", "publications", "pmid", "publication_changes", TRACKED_PUBLICATION_FIELDS, PUBLICATION_JSON_COLUMNS)
KINDS = {k.table: k for k in (TRIALS, PUBLICATIONS)} | {k.source: k for k in (TRIALS, PUBLICATIONS)}


def iso(moment: datetime) -> str:
    """Timestamps are ISO-8601 UTC strings, second precision, so they sort and compare as text."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def raw_hash(text: str) -> str:
    """The raw payload's fingerprint: an unchanged hash is an unchanged record, so it is not rewritten. xxh3-128, a
    non-cryptographic hash at memory speed (m014 says why it replaced blake2b); nothing here is adversarial."""
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8"))


_ENCODE = json.JSONEncoder(ensure_ascii=False).encode  # one encoder: json.dumps(..., ensure_ascii=False) builds one per call
_STRING = json.encoder.encode_basestring  # one JSON string literal, in C: what the encoder writes for each str item


def _json(value: Any) -> str:
    """A list column as JSON text, byte for byte what _ENCODE writes. The common case, a tuple of names, is joined
    from C-encoded string literals without the encoder's per-call set-up."""
    if type(value) is tuple:
        try:
            return "[" + ", ".join(map(_STRING, value)) + "]"
        except TypeError:  # an item that is not a string (a Reference, a Correction)
            pass
    return _ENCODE(as_plain(value))


def trial_row(trial: Trial) -> dict[str, Any]:
    row = dict(trial.__dict__)  # the fields in declaration order (a frozen dataclass without slots)
    row["study_references"] = row.pop("references")
    for column in TRIAL_JSON_COLUMNS:
        row[column] = _json(row[column])
    row["has_results"] = int(trial.has_results)
    for flag in ("is_fda_regulated_drug", "is_fda_regulated_device"):
        row[flag] = None if row[flag] is None else int(row[flag])
    row["raw_hash"] = raw_hash(trial.raw_json)
    return row


def publication_row(pub: Publication) -> dict[str, Any]:
    row = dict(pub.__dict__)
    del row["text_nct_ids"]
    for column in PUBLICATION_JSON_COLUMNS:
        row[column] = _json(row[column])
    for flag in ("is_retracted", "is_deleted", "is_book"):
        row[flag] = int(row[flag])
    row["pub_year"] = int(pub.sort_date[:4]) if pub.sort_date and pub.sort_date[:4].isdigit() else None
    row["raw_hash"] = raw_hash(pub.raw_xml)
    return row


def decoded(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row for a reader: list columns as lists, raw payloads left out."""
    return {k: (json.loads(v) if k in JSON_COLUMNS and v else v) for k, v in row.items() if k not in RAW_COLUMNS}


def display_value(field: str, value: Any) -> str | None:
    """How a tracked field is written into *_changes: plain text a reader understands."""
    if value is None:
        return None
    if field in ("phases",):
        items = json.loads(value) if isinstance(value, str) else value
        return ", ".join(items) if items else None
    if field == "corrections":
        items = json.loads(value) if isinstance(value, str) else value
        return ", ".join(f"{c['type']} {c.get('pmid') or ''}".strip() for c in items) if items else None
    if field in ("has_results", "is_retracted", "is_deleted"):
        return "true" if int(value) else "false"
    return str(value)


def diff_row(old: dict[str, Any], new: dict[str, Any], fields: Sequence[str], record_id: str) -> list[Change]:
    changes = []
    for field in fields:
        before, after = display_value(field, old.get(field)), display_value(field, new.get(field))
        if before != after:
            changes.append(Change(record_id=record_id, field=field, old_value=before, new_value=after))
    return changes
