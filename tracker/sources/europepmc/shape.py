"""How a Europe PMC record is kept: the europepmc_works table (the columns a PubMed publication has, under the same
names, and a preprint's server, version and journal version), its tracked fields (a preprint becoming a journal
article is news), its text columns, the Work -> row mapping and the trial ids its full text names, as links. Pure."""

from __future__ import annotations

from typing import Any, Iterator

from ...models import Work
from ..base import Shape
from ..rows import json_text, raw_hash
from .api import reading

JSON_COLUMNS = ("authors", "publication_types", "mined_types")
TRACKED = ("title", "doi", "is_retracted", "published_as", "version")
TEXT_COLUMNS = ("title", "abstract", "authors")
COLUMNS: dict[str, type] = {
    "epmc_id": str, "source_db": str, "pmid": str, "pmcid": str, "doi": str, "title": str, "abstract": str, "authors": str,
    "journal": str, "journal_abbrev": str, "volume": str, "issue": str, "pages": str, "pub_date": str, "sort_date": str,
    "index_date": str, "pub_year": int, "publication_types": str, "is_preprint": int, "preprint_server": str, "version": str,
    "published_as": str, "published_in": str, "preprint": str, "is_retracted": int, "mined_types": str, "url": str,
    "raw_hash": str, "first_seen_at": str, "updated_at": str, "topic_lines": str, "raw_json": str,
}
REVISIT = "is_preprint = 1 AND published_as IS NULL"  # stored records asked again each run: preprints not yet published


def work_row(work: Work) -> dict[str, Any]:
    row = dict(work.__dict__)
    del row["identifiers"], row["mentions"]  # kept in the identifiers and links tables
    for column in JSON_COLUMNS:
        row[column] = json_text(row[column])
    row["is_preprint"], row["is_retracted"] = int(work.is_preprint), int(work.is_retracted)
    payload = row.pop("raw_json")
    row["raw_hash"] = raw_hash(payload)
    row["raw_json"] = payload
    return row


def work_links(work: Work) -> Iterator[tuple[str, str, str, str | None]]:
    """The trials its full text names (Europe PMC's text mining), each with how it stands there and where:
    'reports: Methods; Results' or 'mentions: Table'."""
    for scheme, value, sections in work.mentions:
        yield scheme, value, "europepmc_fulltext", f"{reading(sections.split('; '))}: {sections}"


SHAPE = Shape(table="europepmc_works", key="epmc_id", changes_table="europepmc_work_changes", tracked=TRACKED,
              json_columns=JSON_COLUMNS, text_columns=TEXT_COLUMNS, payload="raw_json", year_column="pub_year",
              row=work_row, links=work_links, backfill=lambda row: ((), []), columns=COLUMNS, revisit=REVISIT)
