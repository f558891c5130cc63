"""ClinicalTrials.gov (API v2) as a source: what the tracker reads from it and how its trials are kept. api.py
fetches and parses, identity.py reads a study's ids, shape.py maps a Trial to its row, params.py validates a topic
line's [ctgov] table, vocabulary.py holds the API's enums and search areas."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Iterator

from ..base import Count, Presence, Source
from . import api
from .api import (  # the module's entry points, importable from the package as before
    EMPTY_PAGES,
    MAX_URL,
    STUDY_URL,
    Page,
    _split_page,
    fetch_count,
    fetch_line,
    fetch_registry_status,
    fetch_returned_ids,
    fetch_studies,
    fill_gaps,
    id_batches,
    parse_json_page,
    parse_page,
    parse_study,
    search_params,
)
from .params import parse_table, website_search
from .results import read_results
from .shape import SHAPE, trial_row
from .signals import resolution as signal_resolution
from .signals import rules as signal_rules


def count(client: Any, settings: Any, params: dict[str, Any], line: str) -> Count:
    return Count(total=fetch_count(client, settings.ctgov_url, params))


def search(client: Any, settings: Any, text: str, limit: int, *, since: Any = None, until: Any = None,
           label: str = "live search") -> tuple[int, list[Any]]:
    """The registry's answer to free text (query.term): its total count and the first `limit` trials. (No date
    window: since and until are PubMed's entry dates and have no CT.gov counterpart here.)"""
    page = client.get(settings.ctgov_url.rstrip("/") + "/studies",
                      {"query.term": text, "pageSize": str(limit), "countTotal": "true", "format": "json"}, parse=parse_json_page)
    trials = list(parse_page(Page(studies=page["studies"], total_count=page.get("totalCount"), next_page_token=None, raw=page["_raw"])))
    return int(page.get("totalCount") or len(trials)), trials


def fetch_ids(client: Any, settings: Any, ids: list[str]) -> list[Any]:
    """Trials by NCT number (filter.ids, as many per request as the URL allows)."""
    trials = []
    for batch in id_batches(settings.ctgov_url, ids):
        for page in fetch_studies(client, settings.ctgov_url, {"filter.ids": ",".join(batch), "pageSize": "1000", "format": "json"}):
            trials.extend(parse_page(page))
    return trials


def records(client: Any, settings: Any, params: dict[str, Any]) -> Iterator[Any]:
    """Every trial a search returns today, page by page (no window, nothing stored)."""
    for page in fetch_studies(client, settings.ctgov_url, {**params, "pageSize": "1000", "format": "json"}):
        yield from parse_page(page)


SOURCE = Source(
    name="ctgov",
    label="ClinicalTrials.gov",
    short_label="CT.gov",
    kind="trial",
    scheme="nct",
    shape=SHAPE,
    overlap=timedelta(days=1),  # CT.gov refreshes its data once a day: one day re-reads the day a run may have caught half of
    parse_table=parse_table,
    fetch=fetch_line,
    base_url=lambda settings: settings.ctgov_url,
    interval=lambda settings: settings.ctgov_interval,
    count=count,
    search=search,
    fetch_ids=fetch_ids,
    records=records,
    presence=Presence(
        returned=lambda client, settings, ids, params: fetch_returned_ids(client, settings.ctgov_url, ids, params),
        lookup=lambda client, settings, nct_id: fetch_registry_status(client, settings.ctgov_url, nct_id),
        ignored_filters=("filter.overallStatus",),  # a trial that stopped recruiting has not left a line's topic
    ),
    signal_rules=signal_rules,
    signal_resolution=signal_resolution,
    read_results=read_results,
    website=website_search,
)
