"""PubMed through NCBI E-utilities: esearch (history server, read with Bio.Entrez) and efetch in batches, entry-
and modification-date windows under the 10,000 cap. Articles are parsed by pubmed_xml.py; parse_pubmed_xml is
re-exported here, the entry point others rely on. Never touches the store."""

from __future__ import annotations

import functools
import io
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Iterator

from ...errors import ApiError, TrackerError
from ...http import HttpClient, RetryableBody
from ...models import Publication, Query
from ...settings import Settings
from ..base import Batch, brief_list, short_batch
from .articles import TRANSIENT_ERROR_RE, check_error, check_rate_limit, parse_pubmed_xml  # parse_pubmed_xml: also the entry point others import from here

log = logging.getLogger("tracker.pubmed")

TOOL = "tracker"
BATCH_SIZE = 250
CAP = 10_000  # PubMed returns at most the first 10,000 hits of a query: a search of up to CAP hits is whole
FIRST_DATE = date(1781, 1, 1)  # older than anything PubMed indexes
DOCTYPE_RE = re.compile(rb"(<!DOCTYPE[^>]*?)\"http://(www\.ncbi\.nlm\.nih\.gov|dtd\.nlm\.nih\.gov)/")


@dataclass
class Search:
    count: int
    webenv: str | None
    query_key: str | None
    ids: list[str]
    warnings: list[str]
    translation: str | None = None  # how PubMed read the term (automatic term mapping can change it)
    # what was asked, so the same search can be asked again for its PMIDs (see fill_gaps)
    term: str = ""
    label: str = ""
    datetype: str | None = None
    mindate: date | None = None
    maxdate: date | None = None


# -- raw bodies ------------------------------------------------------------------------------------

MISSING_DTD_RE = re.compile(r"^Failed to access (\S+) at ")


def _no_download(url: Any, *args: Any, **kwargs: Any) -> Any:
    """Bio.Entrez fetches a DTD it does not ship from NCBI itself, with no timeout and past every HTTP setting (and
    offline, never): the tracker lets it read only the DTDs biopython ships."""
    raise OSError(f"the tracker does not fetch DTDs ({url})")


@functools.lru_cache(maxsize=1)
def entrez() -> Any:
    """Bio.Entrez, loaded when PubMed's first answer is read (a search or `show` never reads one, and Bio.Entrez
    was a tenth of their start-up), with its DTD downloads refused (_no_download)."""
    from Bio import Entrez
    from Bio.Entrez import Parser as EntrezParser

    EntrezParser.urlopen = _no_download  # Bio.Entrez.Parser's own name for urllib's urlopen, used for DTDs alone
    return Entrez


def read_xml(body: bytes) -> Any:
    """Bio.Entrez.read on a body; old DOCTYPEs name http:// DTD URLs, which Entrez refuses, and the same DTDs ship
    with biopython under https, so the scheme is rewritten. Malformed XML, or an <ERROR> saying NCBI's backend
    hiccupped, is a RetryableBody."""
    check_rate_limit(body)
    body = DOCTYPE_RE.sub(rb'\1"https://\2/', body, count=1)
    try:
        data = entrez().read(io.BytesIO(body), validate=False)
    except RuntimeError as exc:  # <ERROR> element, or a DTD biopython does not ship
        missing = MISSING_DTD_RE.match(str(exc))
        if missing:
            raise ApiError(f"PubMed answered in a format this biopython does not know (its DTD {missing.group(1)} is not shipped; "
                           "the tracker does not fetch it from NCBI): upgrade biopython") from None
        check_error(str(exc))
    except Exception as exc:  # Entrez raises ValueError subclasses and expat errors on broken XML
        raise RetryableBody(f"malformed or cut-off XML ({type(exc).__name__})") from None
    error = data.get("ERROR") if isinstance(data, dict) else None
    if error and TRANSIENT_ERROR_RE.search(str(error)):  # a hiccup inside an answer: ask again (others: the caller says)
        check_error(str(error))
    return data


# -- fetching --------------------------------------------------------------------------------------

def _base_params(settings: Settings) -> dict[str, str]:
    params = {"db": "pubmed", "tool": TOOL}
    if settings.ncbi_email:
        params["email"] = settings.ncbi_email
    if settings.ncbi_api_key:
        params["api_key"] = settings.ncbi_api_key
    return params


def _ymd(day: date) -> str:
    return day.strftime("%Y/%m/%d")


def esearch(
    client: HttpClient,
    settings: Settings,
    term: str,
    *,
    datetype: str | None = None,
    mindate: date | None = None,
    maxdate: date | None = None,
    retmax: int = 0,
    label: str = "",
    history: bool = True,
    log_warnings: bool = True,
) -> Search:
    params = {**_base_params(settings), "term": term, "retmax": str(retmax)}
    if history:
        params["usehistory"] = "y"
    if datetype:
        params.update(datetype=datetype, mindate=_ymd(mindate or FIRST_DATE), maxdate=_ymd(maxdate or date(3000, 1, 1)))
    try:
        data = client.post(settings.eutils_url.rstrip("/") + "/esearch.fcgi", params, parse=read_xml)
    except ApiError as exc:
        raise ApiError(f"PubMed refused the search of line {label or '?'}: {exc}; term: {_short(term)}") from None
    if "ERROR" in data and data["ERROR"]:
        raise ApiError(f"PubMed refused the search of line {label or '?'}: {data['ERROR']}; term: {_short(term)}")
    warnings = []
    for key in ("ErrorList", "WarningList"):
        for kind, values in (data.get(key) or {}).items():
            for value in values or []:
                warnings.append(f"{kind}: {value}")
    for warning in warnings if log_warnings else ():
        log.warning("PubMed on line %s: %s", label or "?", warning)
    try:
        count = int(data["Count"])
    except (KeyError, ValueError):
        raise RetryableBody("esearch answer without a Count") from None
    return Search(
        count=count,
        webenv=data.get("WebEnv"),
        query_key=data.get("QueryKey"),
        ids=[str(i) for i in data.get("IdList", [])],
        warnings=warnings,
        translation=str(data["QueryTranslation"]) if data.get("QueryTranslation") else None,
        term=term,
        label=label,
        datetype=datetype,
        mindate=mindate,
        maxdate=maxdate,
    )


def search_again(client: HttpClient, settings: Settings, search: Search, *, retmax: int = 0, history: bool = True) -> Search:
    """The same search (term, date window) asked once more: for a fresh history, or (retmax) for its PMIDs. Its
    warnings were said the first time."""
    return esearch(client, settings, search.term, datetype=search.datetype, mindate=search.mindate, maxdate=search.maxdate,
                   retmax=retmax, label=search.label, history=history, log_warnings=False)


def _short(term: str, limit: int = 120) -> str:
    term = " ".join(term.split())
    return term if len(term) <= limit else term[: limit - 1] + "…"


def efetch_history(client: HttpClient, settings: Settings, search: Search, *, retstart: int, retmax: int) -> list[Publication]:
    """One batch through the history server, parsed (a body that does not parse is asked for again)."""
    params = {
        **_base_params(settings),
        "query_key": search.query_key,
        "WebEnv": search.webenv,
        "retstart": str(retstart),
        "retmax": str(retmax),
        "retmode": "xml",
    }
    return client.post(settings.eutils_url.rstrip("/") + "/efetch.fcgi", params, parse=parse_pubmed_xml)


def efetch_ids(client: HttpClient, settings: Settings, pmids: list[str]) -> list[Publication]:
    """Records by PMID (POST, so long lists are fine), parsed."""
    params = {**_base_params(settings), "id": ",".join(pmids), "retmode": "xml"}
    return client.post(settings.eutils_url.rstrip("/") + "/efetch.fcgi", params, parse=parse_pubmed_xml)


def fetch_search(client: HttpClient, settings: Settings, search: Search, *, expected: int | None = None) -> Iterator[Batch]:
    """Every record of a search, in batches through the history server. efetch sometimes answers a batch short
    (fewer well-formed records than asked, with HTTP 200), or with records another batch already brought: the search
    is then made whole by fill_gaps. A history the server no longer holds ("Unable to obtain query #1") is searched
    for again, once per batch."""
    total = min(search.count, CAP)
    expected = expected if expected is not None else search.count
    got: set[str] = set()
    short = False
    for start in range(0, total, BATCH_SIZE):
        size = min(BATCH_SIZE, total - start)
        try:
            pubs = efetch_history(client, settings, search, retstart=start, retmax=size)
        except ApiError as exc:
            log.warning("PubMed line %s: efetch refused the search's history (%s); searching again", search.label or "?", exc)
            search = search_again(client, settings, search)
            pubs = efetch_history(client, settings, search, retstart=start, retmax=size)
        got.update(p.pmid for p in pubs)
        short = short or len(pubs) < size
        yield Batch(records=pubs, expected=expected)
    if short or len(got) < total:  # a full batch can still repeat records another batch brought
        yield from fill_gaps(client, settings, search, got, expected=expected)


def fill_gaps(client: HttpClient, settings: Settings, search: Search, got: set[str], *, expected: int) -> Iterator[Batch]:
    """After efetch answers that gave fewer distinct records than the search counts: ask the same search for its
    PMIDs, fetch the ones not received by number, and name any PubMed still does not give (so a missing record is
    said, never silently dropped). If asking fails, the records that came are still stored and the failure is part
    of what is said."""
    total = min(search.count, CAP)
    missing: list[str] = []
    received: set[str] = set()
    failed = ""
    try:
        listed = search_again(client, settings, search, retmax=total, history=False).ids
        missing = [pmid for pmid in listed if pmid not in got]
        for start in range(0, len(missing), BATCH_SIZE):
            pubs = efetch_ids(client, settings, missing[start : start + BATCH_SIZE])
            received.update(p.pmid for p in pubs)
            yield Batch(records=pubs, expected=expected)
    except TrackerError as exc:
        failed = f" (asking for the missing ones failed: {exc})"
    lost = [pmid for pmid in missing if pmid not in received]
    if lost or failed:
        one = len(lost) == 1
        shortfall = (f"{len(lost)} record{'' if one else 's'} the search counts came in no efetch answer, not stored: PMID {brief_list(lost)}"
                     if lost else f"efetch answered short: {total - len(got)} of the {total} records the search counts not stored") + failed
        it = "it" if one else "them"
        yield short_batch("PubMed", search.label or "?", shortfall, expected, later=f"a later update stores {it} if PubMed modifies {it}")


def date_windows(
    client: HttpClient, settings: Settings, term: str, start: date, end: date, *, label: str = "", datetype: str = "edat"
) -> Iterator[Search]:
    """Searches over entry-date windows that each stay under the cap (bisection). A single day over the cap is
    reported loudly and its first 10,000 records are taken."""
    search = esearch(client, settings, term, datetype=datetype, mindate=start, maxdate=end, label=label)
    if search.count <= CAP:
        if search.count:
            yield search
        return
    if start >= end:
        log.error(
            "PubMed line %s: %d records entered on %s alone, over the 10,000 cap; only the first 10,000 are fetched",
            label, search.count, start.isoformat(),
        )
        yield search
        return
    middle = start + (end - start) // 2
    yield from date_windows(client, settings, term, start, middle, label=label, datetype=datetype)
    yield from date_windows(client, settings, term, middle + timedelta(days=1), end, label=label, datetype=datetype)


def fetch_line(client: HttpClient, settings: Settings, query: Query, since: date | None, now: datetime) -> Iterator[Batch]:
    """Every publication of a line (since None: the first run), or those entered or modified on or after `since`."""
    term, label = query.params["pubmed"]["term"], query.name
    today = now.date()
    if since is None:
        search = esearch(client, settings, term, label=label)
        if search.count <= CAP:
            yield from fetch_search(client, settings, search)
            return
        expected = search.count
        for window in date_windows(client, settings, term, FIRST_DATE, today + timedelta(days=1), label=label):
            yield from fetch_search(client, settings, window, expected=expected)
        return
    until = today + timedelta(days=1)
    for datetype in ("edat", "mdat"):
        for window in date_windows(client, settings, term, since, until, label=label, datetype=datetype):
            yield from fetch_search(client, settings, window)

