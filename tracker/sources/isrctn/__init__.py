"""The ISRCTN registry as a source: api.py counts, fetches and parses; a topic line's [isrctn] table holds `q`, an
ISRCTN search (https://www.isrctn.com/page/search-help). Its trials are kept as registrations in isrctn_trials."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from ...expressions import check_balanced, search_table
from .. import registry_signals
from ..base import Count, Source, search_page
from ..registrations import registration_shape
from .api import fetch_count, fetch_line, parse_count, parse_trial, parse_who  # noqa: F401  (the package's entry points)


def parse_table(path: Path, where: str, table: Any) -> dict[str, str]:
    """An [isrctn] table, validated: {"q": ...}."""
    q = search_table(path, where, table, "q", check_balanced, source="isrctn", needs='an ISRCTN search (e.g. q = "alopecia AND stem cells")')
    return {"q": " ".join(q.split())}


def count(client: Any, settings: Any, params: dict[str, Any], line: str) -> Count:
    return Count(total=fetch_count(client, settings.isrctn_url, params["q"]))


SOURCE = Source(
    name="isrctn",
    label="ISRCTN",
    short_label="ISRCTN",
    kind="trial",
    scheme="isrctn",
    shape=registration_shape("isrctn_trials"),
    overlap=timedelta(days=2),  # lastEdited is a timestamp; two days cover a run that caught half a day and a time zone
    parse_table=parse_table,
    fetch=fetch_line,
    base_url=lambda settings: settings.isrctn_url,
    interval=lambda settings: settings.isrctn_interval,
    count=count,
    signal_rules=registry_signals.rules,
    signal_resolution=registry_signals.resolution,
    website=search_page("https://www.isrctn.com/search", "q"),
)
