"""What every source declares to the rest of the tracker (Source: its kind, id scheme, record shape, topic-line
table, service settings, count, presence, search), its window (a saved cursor -> the date to ask from, with the
source's own overlap) and its batches of parsed records, the last of them saying any shortfall (short_batch, with
brief_list naming the missing records). update.py drives any Source without knowing which."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator
from urllib.parse import quote, urlencode

from ..http import RetryableBody
from ..identifiers import url_for
from ..models import Query

if TYPE_CHECKING:
    from ..http import HttpClient
    from ..settings import Settings


@dataclass
class Batch:
    """Parsed records of one page or efetch, and how many the service said the whole window holds (if it said).
    shortfall: records the service counted and never returned, in words (the run keeps it; the digest says it)."""

    records: list[Any]
    expected: int | None
    shortfall: str | None = None
    unchanged: list[str] = field(default_factory=list)  # ids the service returned whose stored record is current: not fetched again


log = logging.getLogger("tracker.sources")


def short_batch(service: str, line: str, shortfall: str, expected: int | None, *, later: str) -> Batch:
    """The last batch of a line whose answers came back short of their count: no records, the shortfall in words
    (the run keeps it, the digest says it), warned once here with when the records may still come."""
    log.warning("%s line %s: %s (%s; `tracker update --full` asks for every record again)", service, line, shortfall, later)
    return Batch([], expected, shortfall=shortfall)


def brief_list(ids: list[str], shown: int = 10) -> str:
    """Record numbers as a warning names them: all of a few, or the first `shown` and how many more."""
    return ", ".join(ids[:shown]) + (f" and {len(ids) - shown} more" if len(ids) > shown else "")


def not_json(body: bytes) -> str:
    """Why a body is no JSON answer: an HTML page (a proxy's, a login or maintenance page) or broken JSON."""
    return "an HTML page instead of JSON" if body.lstrip()[:1] == b"<" else "malformed or cut-off JSON"


def json_answer(body: bytes, shape: type, wrong: str) -> Any:
    """A JSON answer of the shape expected (an object, a list); a cut-off or HTML body, or one of another shape
    (`wrong` says which), is a RetryableBody: asked for again."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise RetryableBody(not_json(body)) from None
    if not isinstance(value, shape):
        raise RetryableBody(wrong)
    return value


def not_xml(body: bytes) -> str:
    """Why a body is no XML answer: an HTML page in its place, or broken or cut-off XML."""
    head = body.lstrip()[:15].lower()
    return "an HTML page instead of XML" if head.startswith((b"<!doctype html", b"<html")) else "malformed or cut-off XML"


Fetch = Callable[["HttpClient", "Settings", Query, "date | None", datetime], Iterator[Batch]]


def search_page(page: str, key: str) -> Callable[[dict[str, Any]], str]:
    """Source.website for a service whose own site searches with one parameter: the line's expression, as its table
    gives it under `key`, on that page ("https://pubmed.ncbi.nlm.nih.gov/?term=...")."""
    return lambda params: page + "?" + urlencode({key: params[key]}, quote_via=quote)


@dataclass(frozen=True)
class Shape:
    """How a source's records are kept: their table and key, the table of their tracked changes, the fields whose
    change a reader hears about, the list columns kept as JSON, the columns full-text search reads, the raw payload
    (kept last, m016) and the column a record is charted by year under. `row` turns a parsed record into its row;
    `links` names the identifiers a record cites (a study's references, a paper's trial registrations)."""

    table: str
    key: str
    changes_table: str
    tracked: tuple[str, ...]
    json_columns: tuple[str, ...]
    text_columns: tuple[str, ...]
    payload: str
    year_column: str
    row: Callable[[Any], dict[str, Any]]
    links: Callable[[Any], Iterable[tuple[str, str, str, "str | None"]]]  # the ids a record names: (scheme, value, via, detail)
    # a row stored before identifiers were kept (m017) -> (the identifiers it carries, the links the old
    # trial_publications table had no room for), read from its columns and its raw payload
    backfill: Callable[[dict[str, Any]], tuple[tuple[tuple[str, str, str], ...], list[tuple[str, str, str, "str | None"]]]]
    # the table's columns (name -> type, in order), for a table the store makes from its shape (store/tables.py);
    # None for the tables the tracker's own migrations made (trials, publications)
    columns: dict[str, type] | None = field(default=None, compare=False)
    # SQL over its own columns: the stored records a run asks for again whatever its window (Europe PMC's preprints
    # not yet published: a record gains its journal version without being indexed again); None: none
    revisit: str | None = None


@dataclass(frozen=True)
class Count:
    """What a service counts for a search today, how it read the search (PubMed's translation), and what it warned."""

    total: int
    translation: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Presence:
    """The registry sweep, for a service that can say whether it still holds a record: `returned` asks which of
    many ids a search (a line's parameters, or none) returns, with the number of requests made; `lookup` asks for
    one id (None: the service answers that it no longer holds it; another id: ours now leads to that record).
    `ignored_filters`: a line's parameters left out when asking whether it still returns a record."""

    returned: Callable[["HttpClient", "Settings", list[str], "dict[str, str] | None"], tuple[set[str], int]]
    lookup: Callable[["HttpClient", "Settings", str], "str | None"]
    ignored_filters: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResultsDuty:
    """A registry's duty to post summary results: within `months` of the end of the trial (`paediatric_months` for
    a paediatric trial), as `law` asks. tracker.signals applies it to the source's records."""

    months: int
    paediatric_months: int | None
    law: str  # for people: where the duty is written


@dataclass(frozen=True)
class Source:
    """Everything the rest of the tracker knows of a service. Code outside sources/ asks a Source for what it can
    do (presence, count, search) and never imports one."""

    name: str  # its topic-line table, stored as runs.source, query_matches.source, identifiers.source
    label: str  # for people
    short_label: str  # in narrow columns
    kind: str  # trial | publication
    scheme: str  # the identifier scheme of its own ids (tracker.identifiers)
    shape: Shape
    overlap: timedelta  # how far before the saved cursor a window starts again
    parse_table: Callable[[Path, str, Any], dict[str, Any]]  # (file, where, its TOML table) -> validated parameters
    fetch: Fetch | None  # (client, settings, query, since or None for everything, now) -> batches; None: no service to ask (imports)
    base_url: Callable[["Settings"], str] | None
    interval: Callable[["Settings"], float] | None  # seconds between requests (0: no pacing)
    count: Callable[["HttpClient", "Settings", dict[str, Any], str], Count] | None = None  # (params, line) -> count
    search: Callable[..., tuple[int, list[Any]]] | None = None  # (client, settings, text, limit, since=, until=, label=) -> (total, records)
    fetch_ids: Callable[["HttpClient", "Settings", list[str]], list[Any]] | None = None  # records by their own ids
    records: Callable[["HttpClient", "Settings", dict[str, Any]], Iterator[Any]] | None = None  # every record a search returns today
    presence: Presence | None = None
    notice: Callable[["Settings"], "str | None"] | None = None  # what the service asks for that the settings lack
    migrations: Any = None  # a sqlite_utils.Migrations of its own tables, applied after the tracker's own set
    # its search cannot be windowed by date: fetch is given stored_versions (ids -> the stored last update) and
    # fetches again only what moved (CTIS)
    compares_versions: bool = False
    revisit: Callable[["HttpClient", "Settings", list[str]], list[Any]] | None = None  # those records by id, asked again
    # a citation watch: anchor PMIDs -> the ids of its records citing each (PubMed's elink, Europe PMC's citations),
    # fetched by fetch_ids; resolve_doi: a DOI -> the PMID of its record (PubMed's esearch)
    citers: Callable[["HttpClient", "Settings", list[str]], dict[str, list[str]]] | None = None
    website: Callable[[dict[str, Any]], "str | None"] | None = None  # a line's table -> the same search on the service's own site, for people
    resolve_doi: Callable[["HttpClient", "Settings", str], "str | None"] | None = None
    read_file: Callable[..., list[Any]] | None = None  # (bytes, name=) -> records: a file a user downloaded (`tracker import`)
    results_duty: ResultsDuty | None = None
    # its evidence-signal rules: (a stored record's signal inputs, today, thresholds, this source) -> signals; and
    # why one of them cleared: (kind, the record's inputs now, this source) -> words (tracker/signals.py runs both)
    signal_rules: Callable[..., list[Any]] | None = None
    signal_resolution: Callable[..., str] | None = None  # the results its registry requires (CT.gov's FDAAA rule is tracker.signals' own)
    more_bases: Callable[["Settings"], tuple[str, ...]] | None = None  # other APIs of the same service, paced with it
    url_of: Callable[[str], str] | None = None  # a record's public page, where its own scheme's URL is not it (ICTRP's many registries)
    registry_of: Callable[[str], str] | None = None  # the registry a record belongs to, where the source holds several's
    # what a stored payload says that no column holds, read when a record is shown: a trial's posted results
    # (ctgov/results.py: an object with glance() and complete() lines, and its fields), a paper's conclusions as its
    # structured abstract states them
    read_results: Callable[[str], Any] | None = None
    read_conclusions: Callable[[str], "str | None"] | None = None

    def registry(self, record_id: str) -> str:
        """The registry a record is of: two records of one registry are two trials, never one study."""
        return self.registry_of(record_id) if self.registry_of else self.name

    def url(self, record_id: str) -> str:
        """The public page of one of its records."""
        return self.url_of(record_id) if self.url_of else url_for(self.scheme, record_id)

    def applies(self, query: Query) -> bool:
        """Does this topic line ask this source anything? (It has the source's table, and the source a service.)"""
        return self.fetch is not None and self.name in query.params

    def window_start(self, cursor: str | None) -> date | None:
        """The date to ask from: the cursor (the date of the last good run) minus the overlap; None fetches all."""
        if not cursor:
            return None
        return date.fromisoformat(cursor) - self.overlap

    def batches(self, client: "HttpClient", settings: "Settings", query: Query, *, cursor: str | None, now: datetime,
                stored_versions: Callable[[list[str]], dict[str, Any]] | None = None) -> Iterator[Batch]:
        if self.compares_versions:
            return self.fetch(client, settings, query, self.window_start(cursor), now, stored_versions=stored_versions)
        return self.fetch(client, settings, query, self.window_start(cursor), now)
