"""The EU Clinical Trials Information System (CTIS, every EU trial since 2023) as a source: api.py searches and
retrieves and parses, params.py validates a topic line's [ctis] searchCriteria, vocabulary.py holds its status codes.
Its trials are kept as registrations (sources/registrations.py) in ctis_trials."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..base import Count, Presence, ResultsDuty, Source
from .. import registry_signals
from ..registrations import registration_shape
from .api import count as _count
from .api import fetch_line, fetch_trial, lookup, parse_retrieve, parse_search_page, parse_trial, returned  # noqa: F401  (the package's entry points)
from .params import parse_table


def count(client: Any, settings: Any, params: dict[str, Any], line: str) -> Count:
    return Count(total=_count(client, settings, params))


SOURCE = Source(
    name="ctis",
    label="EU CTIS",
    short_label="CTIS",
    kind="trial",
    scheme="euct",
    shape=registration_shape("ctis_trials"),
    overlap=timedelta(days=1),
    parse_table=parse_table,
    fetch=fetch_line,
    base_url=lambda settings: settings.ctis_url,
    interval=lambda settings: settings.ctis_interval,
    count=count,
    presence=Presence(returned=returned, lookup=lookup),
    compares_versions=True,
    results_duty=ResultsDuty(months=12, paediatric_months=6, law="the EU Clinical Trials Regulation (536/2014, Art. 37)"),
    signal_rules=registry_signals.rules,
    signal_resolution=registry_signals.resolution,
)
