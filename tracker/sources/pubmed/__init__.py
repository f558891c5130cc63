"""PubMed through NCBI E-utilities as a source: what the tracker reads from it and how its articles are kept.
eutils.py searches and fetches, articles.py parses PubMed XML (parse_pubmed_xml, the entry point others rely on),
identity.py reads an article's ids and registrations, shape.py maps a Publication to its row, params.py validates
a topic line's [pubmed] table, vocabulary.py holds PubMed's field tags."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from ...models import Publication
from ..base import Count, Source, search_page
from . import articles, eutils
from .articles import conclusions_of, parse_pubmed_xml
from .citations import fetch_citers, parse_elink, resolve_doi  # noqa: F401  (parse_elink: the package's entry point)
from .eutils import (
    CAP,
    Search,
    date_windows,
    efetch_history,
    efetch_ids,
    esearch,
    fetch_line,
    fetch_search,
    read_xml,
)
from .params import parse_table
from .shape import SHAPE, publication_row


def count(client: Any, settings: Any, params: dict[str, Any], line: str) -> Count:
    found = esearch(client, settings, params["term"], retmax=0, label=line, history=False, log_warnings=False)
    return Count(total=found.count, translation=found.translation, warnings=tuple(found.warnings))


def search(client: Any, settings: Any, text: str, limit: int, *, since: date | None = None, until: date | None = None,
           label: str = "live search") -> tuple[int, list[Publication]]:
    """PubMed's answer to free text (entered between `since` and `until`, when given): its count and the first
    `limit` articles, in PubMed's order."""
    window = {"datetype": "edat", "mindate": since, "maxdate": until} if since or until else {}
    found = esearch(client, settings, text, retmax=limit, label=label, **window)
    pubs = efetch_ids(client, settings, found.ids) if found.ids else []
    order = {pmid: i for i, pmid in enumerate(found.ids)}
    pubs.sort(key=lambda p: order.get(p.pmid, len(order)))
    return found.count, pubs


SOURCE = Source(
    name="pubmed",
    label="PubMed",
    short_label="PubMed",
    kind="publication",
    scheme="pmid",
    shape=SHAPE,
    # entry and modification dates can be stamped a day or two after the day a record became visible: three days of
    # overlap re-read them; the store's upsert makes the repeat harmless
    overlap=timedelta(days=3),
    parse_table=parse_table,
    fetch=fetch_line,
    base_url=lambda settings: settings.eutils_url,
    interval=lambda settings: settings.ncbi_interval,
    count=count,
    search=search,
    fetch_ids=efetch_ids,
    citers=fetch_citers,
    resolve_doi=resolve_doi,
    notice=lambda settings: None if settings.ncbi_email else
    "NCBI_EMAIL is not set; NCBI asks for a contact address with every E-utilities request.",
    read_conclusions=conclusions_of,
    website=search_page("https://pubmed.ncbi.nlm.nih.gov/", "term"),
)
