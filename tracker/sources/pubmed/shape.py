"""How a PubMed article is kept: the publications table, its tracked fields (retractions, corrections, a DOI
added), its list and text-search columns, and the Publication -> row mapping. Pure."""

from __future__ import annotations

import re
from typing import Any, Iterator

from ...models import Publication
from ..base import Shape
from ..rows import json_text, raw_hash
from .identity import article_identifiers, registrations

JSON_COLUMNS = ("authors", "publication_types", "mesh_terms", "keywords", "nct_ids", "corrections")
TRACKED = ("title", "is_retracted", "is_deleted", "corrections", "doi")
TEXT_COLUMNS = ("title", "abstract", "mesh_terms", "authors")


def publication_row(pub: Publication) -> dict[str, Any]:
    row = dict(pub.__dict__)
    for kept_elsewhere in ("text_nct_ids", "registrations", "identifiers"):  # links and identifiers tables
        del row[kept_elsewhere]
    for column in JSON_COLUMNS:
        row[column] = json_text(row[column])
    for flag in ("is_retracted", "is_deleted", "is_book"):
        row[flag] = int(row[flag])
    row["pub_year"] = int(pub.sort_date[:4]) if pub.sort_date and pub.sort_date[:4].isdigit() else None
    row["raw_hash"] = raw_hash(pub.raw_xml)
    return row


def publication_links(pub: Publication) -> Iterator[tuple[str, str, str, str | None]]:
    """The trials a paper names: its DataBankList's ClinicalTrials.gov accessions and other registrations, then NCT
    numbers written in its title or abstract that the DataBankList does not hold."""
    for nct in pub.nct_ids:
        yield "nct", nct, "pubmed_databank", None
    for scheme, value in pub.registrations:
        if scheme != "nct":
            yield scheme, value, "pubmed_databank", None
    for nct in pub.text_nct_ids:
        if nct not in pub.nct_ids:
            yield "nct", nct, "pubmed_text", None


ACCESSION_RE = re.compile(r"<AccessionNumber>\s*([^<]+?)\s*</AccessionNumber>")


def stored_publication(row: dict[str, Any]) -> tuple[tuple[tuple[str, str, str], ...], list[tuple[str, str, str, str | None]]]:
    """A stored article's identifiers (from its pmid, doi and pmcid columns), and the registrations of registries
    other than ClinicalTrials.gov its DataBankList names (read from the raw XML; NCT numbers were already links)."""
    raw = row.get("raw_xml") or ""
    accessions = ACCESSION_RE.findall(raw) if "<DataBankList" in raw else []
    named = [(scheme, value, "pubmed_databank", None) for scheme, value in registrations(accessions) if scheme != "nct"]
    return article_identifiers(row["pmid"], row.get("doi"), row.get("pmcid")), named


SHAPE = Shape(table="publications", key="pmid", changes_table="publication_changes", tracked=TRACKED,
              json_columns=JSON_COLUMNS, text_columns=TEXT_COLUMNS, payload="raw_xml", year_column="pub_year",
              row=publication_row, links=publication_links,
              backfill=stored_publication)
