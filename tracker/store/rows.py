"""The record kinds as the store keeps them (one per source, from the source's declared shape), how a tracked field
is written into its changes table, and how list columns read back. Pure: each source's own row mapping is its
shape's (sources/<name>/shape.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from ..models import Change
from ..sources import SOURCES, Shape
from ..sources.rows import raw_hash  # noqa: F401  (the store's writers fingerprint payloads they build themselves)



@dataclass(frozen=True)
class Kind:
    """A source's records as the store keeps them: the source that feeds them (runs.source, query_matches.source,
    identifiers.source) and its declared shape (table, key, changes table, tracked fields, list columns, payload)."""

    source: str
    record_kind: str  # trial | publication
    shape: Shape
    swept: bool  # a registry sweep can mark its records removed or merged (the source has presence)
    label: str = ""  # the source's, for people

    @property
    def table(self) -> str:
        return self.shape.table

    @property
    def key(self) -> str:
        return self.shape.key

    @property
    def changes_table(self) -> str:
        return self.shape.changes_table

    @property
    def tracked(self) -> tuple[str, ...]:
        return self.shape.tracked

    @property
    def json_columns(self) -> tuple[str, ...]:
        return self.shape.json_columns

    def chart_year(self, row: dict[str, Any]) -> int:
        """The year a record is charted under (0: unknown): its shape's year column (a year, or a date's year)."""
        value = row.get(self.shape.year_column)
        if isinstance(value, int):
            return value
        text = str(value or "")[:4]
        return int(text) if text.isdigit() else 0


_KINDS = [Kind(s.name, s.kind, s.shape, s.presence is not None, s.label) for s in SOURCES.values()]
KINDS = {k.table: k for k in _KINDS} | {k.source: k for k in _KINDS}
JSON_COLUMNS = frozenset(c for k in _KINDS for c in k.json_columns) | {"topic_lines"}  # topic_lines: kept by the database (m008)
RAW_COLUMNS = tuple(dict.fromkeys([*(k.shape.payload for k in _KINDS), "raw_hash"]))  # kept for back-filling, never shown or exported


def iso(moment: datetime) -> str:
    """Timestamps are ISO-8601 UTC strings, second precision, so they sort and compare as text."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


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
