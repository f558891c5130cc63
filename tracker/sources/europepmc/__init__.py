"""Europe PMC as a source: preprints (medRxiv, bioRxiv, Research Square ...) months before PubMed lists them, and
trial ids text-mined from full texts with the section they stand in. api.py searches, pages, windows, annotates and
parses; shape.py keeps its records in europepmc_works. A topic line's [europepmc] table holds `query`, in Europe
PMC's search syntax."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from ...expressions import check_balanced, search_table
from ..base import Count, Source, search_page
from .api import (  # noqa: F401
    ARTICLE_URL,
    conclusions_of,
    fetch_citers,
    fetch_ids,
    fetch_line,
    fetch_pages,
    parse_result,
    parse_search,
    revisit,
)
from .api import count as _count
from .shape import SHAPE


def parse_table(path: Path, where: str, table: Any) -> dict[str, str]:
    """A [europepmc] table, validated: {"query": ...}."""
    query = search_table(path, where, table, "query", check_balanced, source="europepmc",
                         needs="a Europe PMC search (e.g. query = 'alopecia AND \"stem cell\" AND SRC:PPR')")
    return {"query": " ".join(query.split())}


def count(client: Any, settings: Any, params: dict[str, Any], line: str) -> Count:
    return Count(total=_count(client, settings, params["query"]))


def work_url(epmc_id: str) -> str:
    source, _, ext_id = epmc_id.partition(":")
    return ARTICLE_URL.format(source, ext_id) if ext_id else ""


SOURCE = Source(
    name="europepmc",
    label="Europe PMC",
    short_label="EuropePMC",
    kind="publication",
    scheme="other",  # MED, PMC and PPR records: url_of reads the page from the id
    shape=SHAPE,
    overlap=timedelta(days=3),  # the index date of a record indexed late on the cursor's day is that day
    parse_table=parse_table,
    fetch=fetch_line,
    base_url=lambda settings: settings.europepmc_url,
    interval=lambda settings: settings.europepmc_interval,
    more_bases=lambda settings: (settings.annotations_url,),
    count=count,
    url_of=work_url,
    revisit=revisit,
    fetch_ids=fetch_ids,
    citers=fetch_citers,
    read_conclusions=conclusions_of,
    website=search_page("https://europepmc.org/search", "query"),
)
