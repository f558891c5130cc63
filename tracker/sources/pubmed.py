"""PubMed through NCBI E-utilities: esearch (history server) and efetch in batches, entry-date windows under
the 10,000 cap, and parse_pubmed_xml -> Publication via Bio.Entrez.read. Never touches the store."""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Iterator

from Bio import Entrez

from ..errors import ApiError
from ..http import HttpClient, RetryableBody
from ..models import Correction, Publication
from ..settings import Settings

log = logging.getLogger("tracker.pubmed")

TOOL = "tracker"
BATCH_SIZE = 250
CAP = 10_000  # PubMed returns at most the first 10,000 hits of a query
OVERLAP_DAYS = 3
FIRST_DATE = date(1781, 1, 1)  # older than anything PubMed indexes
NCT_RE = re.compile(r"\bNCT\s?(\d{8})\b", re.IGNORECASE)
# Bio.Entrez decodes entities but keeps PubMed's inline markup as text; strip only that markup, so "<5 mg" stays.
TAG_RE = re.compile(r"</?(?:i|b|u|sub|sup|mml:[A-Za-z]+)(?:\s[^<>]*)?/?>")
DOCTYPE_RE = re.compile(rb"(<!DOCTYPE[^>]*?)\"http://(www\.ncbi\.nlm\.nih\.gov|dtd\.nlm\.nih\.gov)/")
MONTHS = {m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
SEASONS = {"spring": 3, "summer": 6, "fall": 9, "autumn": 9, "winter": 12}
CORRECTION_TYPES = {"RetractionIn", "ErratumIn", "ExpressionOfConcernIn", "UpdateIn", "RetractionOf", "PartialRetractionIn"}


@dataclass
class Search:
    count: int
    webenv: str | None
    query_key: str | None
    ids: list[str]
    warnings: list[str]


@dataclass
class Batch:
    publications: list[Publication]
    expected: int | None


# -- raw bodies ------------------------------------------------------------------------------------

def _check_rate_limit(body: bytes) -> None:
    head = body.lstrip()[:200]
    if head.startswith(b"{") and b"rate limit" in head.lower():
        raise RetryableBody("NCBI rate limit exceeded")


def read_xml(body: bytes) -> Any:
    """Bio.Entrez.read on a body; old DOCTYPEs name http:// DTD URLs, which Entrez refuses, and the same DTDs ship
    with biopython under https, so the scheme is rewritten. Malformed XML is a RetryableBody."""
    _check_rate_limit(body)
    body = DOCTYPE_RE.sub(rb'\1"https://\2/', body, count=1)
    try:
        return Entrez.read(io.BytesIO(body), validate=False)
    except RuntimeError as exc:  # <ERROR> element
        raise ApiError(" ".join(str(exc).split())) from None
    except Exception as exc:  # Entrez raises ValueError subclasses and expat errors on broken XML
        raise RetryableBody(f"malformed or cut-off XML ({type(exc).__name__})") from None


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
) -> Search:
    params = {**_base_params(settings), "term": term, "usehistory": "y", "retmax": str(retmax)}
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
    for warning in warnings:
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
    )


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
    total = min(search.count, CAP)
    for start in range(0, total, BATCH_SIZE):
        pubs = efetch_history(client, settings, search, retstart=start, retmax=min(BATCH_SIZE, total - start))
        yield Batch(publications=pubs, expected=expected if expected is not None else search.count)


def date_windows(
    client: HttpClient, settings: Settings, term: str, start: date, end: date, *, label: str = "", datetype: str = "edat"
) -> Iterator[Search]:
    """Searches over entry-date windows that each stay under the cap (bisection). A single day over the cap is
    reported loudly and its first 10,000 records are taken."""
    search = esearch(client, settings, term, datetype=datetype, mindate=start, maxdate=end, label=label)
    if search.count < CAP:
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


def fetch_line(
    client: HttpClient, settings: Settings, term: str, *, cursor: str | None, now: datetime, label: str = ""
) -> Iterator[Batch]:
    """Every publication of a line (first run), or those entered or modified since the cursor minus the overlap."""
    today = now.date()
    if cursor is None:
        search = esearch(client, settings, term, label=label)
        if search.count < CAP:
            yield from fetch_search(client, settings, search)
            return
        expected = search.count
        for window in date_windows(client, settings, term, FIRST_DATE, today + timedelta(days=1), label=label):
            yield from fetch_search(client, settings, window, expected=expected)
        return
    since = date.fromisoformat(cursor) - timedelta(days=OVERLAP_DAYS)
    until = today + timedelta(days=1)
    for datetype in ("edat", "mdat"):
        for window in date_windows(client, settings, term, since, until, label=label, datetype=datetype):
            yield from fetch_search(client, settings, window)


def next_cursor(now: datetime) -> str:
    return now.date().isoformat()


# -- parsing ---------------------------------------------------------------------------------------

def flatten(value: Any) -> str | None:
    """Inline markup (<i>, <sub>, MathML) flattened to text, whitespace collapsed."""
    if value is None:
        return None
    text = TAG_RE.sub("", str(value))
    text = " ".join(text.split())
    return text or None


def _attr(element: Any, name: str) -> str | None:
    return getattr(element, "attributes", {}).get(name)


def parse_abstract(abstract: Any) -> str | None:
    if not abstract:
        return None
    parts = []
    for section in abstract.get("AbstractText", []):
        text = flatten(section)
        if not text:
            continue
        label = _attr(section, "Label")
        parts.append(f"{label}: {text}" if label else text)
    return "\n".join(parts) or None


def parse_authors(author_list: Any) -> tuple[str, ...]:
    names = []
    lists = author_list if isinstance(author_list, list) else []
    # BookDocument nests AuthorList as a list of lists
    if lists and isinstance(lists[0], list):
        lists = [a for sub in lists for a in sub]
    for author in lists:
        if not isinstance(author, dict):
            continue
        if author.get("CollectiveName"):
            names.append(flatten(author["CollectiveName"]))
        elif author.get("LastName"):
            initials = author.get("Initials") or ""
            names.append(f"{author['LastName']} {initials}".strip())
    return tuple(n for n in names if n)


def _month(text: str | None) -> int | None:
    if not text:
        return None
    text = text.strip().lower()
    if text.isdigit():
        return int(text) if 1 <= int(text) <= 12 else None
    return MONTHS.get(text[:3]) or SEASONS.get(text)


def parse_pub_date(pub_date: Any) -> tuple[str | None, str | None]:
    """(as printed, sortable YYYY-MM-DD) from a PubDate: Year/Month/Day, Year/Season, or MedlineDate."""
    if not pub_date:
        return None, None
    if pub_date.get("MedlineDate"):
        printed = str(pub_date["MedlineDate"]).strip()
        year = re.search(r"\b(1[6-9]\d\d|20\d\d)\b", printed)
        month_match = re.search(r"\b([A-Za-z]{3})[a-z]*\b", printed)
        month = _month(month_match.group(1)) if month_match else None
        if not year:
            return printed, None
        return printed, f"{year.group(1)}-{month or 1:02d}-01"
    year = str(pub_date.get("Year") or "").strip()
    month_text = pub_date.get("Month") or pub_date.get("Season")
    day = str(pub_date.get("Day") or "").strip()
    printed = " ".join(str(p) for p in (year, month_text, day) if p)
    if not year.isdigit():
        return printed or None, None
    month = _month(str(month_text)) if month_text else None
    sortable = f"{year}-{month or 1:02d}-{int(day) if day.isdigit() and month else 1:02d}"
    return printed, sortable


def _ymd_dict(value: Any) -> str | None:
    if not value:
        return None
    if isinstance(value, list):
        value = value[0] if value else None
        if not value:
            return None
    try:
        return f"{int(value['Year']):04d}-{int(value.get('Month', 1)):02d}-{int(value.get('Day', 1)):02d}"
    except (KeyError, ValueError, TypeError):
        return None


def _history_date(history: Any, status: str) -> str | None:
    for entry in history or []:
        if _attr(entry, "PubStatus") == status:
            return _ymd_dict(entry)
    return None


def _id_of(ids: Any, kind: str) -> str | None:
    for value in ids or []:
        if _attr(value, "IdType") == kind:
            return str(value).strip() or None
    return None


def _nct_in_text(*texts: str | None) -> tuple[str, ...]:
    found = []
    for text in texts:
        for match in NCT_RE.finditer(text or ""):
            found.append(f"NCT{match.group(1)}")
    return tuple(dict.fromkeys(found))


def _corrections(citation: Any) -> tuple[Correction, ...]:
    result = []
    for entry in citation.get("CommentsCorrectionsList", []) or []:
        kind = _attr(entry, "RefType")
        if kind in CORRECTION_TYPES:
            pmid = entry.get("PMID")
            result.append(Correction(type=kind, pmid=str(pmid) if pmid else None, source=entry.get("RefSource")))
    return tuple(result)


RECORD_RE = re.compile(rb"<(PubmedArticle|PubmedBookArticle)>.*?</\1>", re.DOTALL)
PMID_RE = re.compile(rb"<PMID[^>]*>\s*(\d+)\s*</PMID>")


def split_records(body: bytes) -> dict[str, str]:
    """Each record's own XML element, by PMID, in one pass over the batch body (kept as raw_xml)."""
    records = {}
    for match in RECORD_RE.finditer(body):
        pmid = PMID_RE.search(match.group(0))
        if pmid:
            records.setdefault(pmid.group(1).decode(), match.group(0).decode("utf-8", "replace"))
    return records


def parse_article(article: Any, raw: str = "") -> Publication:
    citation = article["MedlineCitation"]
    art = citation["Article"]
    data = article.get("PubmedData", {}) or {}
    pmid_el = citation["PMID"]
    journal = art.get("Journal", {}) or {}
    issue = journal.get("JournalIssue", {}) or {}
    printed, sortable = parse_pub_date(issue.get("PubDate"))
    doi = None
    for loc in art.get("ELocationID", []) or []:
        if _attr(loc, "EIdType") == "doi":
            doi = str(loc).strip()
    doi = doi or _id_of(data.get("ArticleIdList"), "doi")
    nct_ids = []
    for bank in art.get("DataBankList", []) or []:
        if str(bank.get("DataBankName", "")).lower().startswith("clinicaltrials"):
            nct_ids.extend(str(a).strip().upper() for a in bank.get("AccessionNumberList", []))
    types = tuple(str(t) for t in art.get("PublicationTypeList", []) or [])
    corrections = _corrections(citation)
    title = flatten(art.get("ArticleTitle")) or flatten(art.get("VernacularTitle"))
    abstract = parse_abstract(art.get("Abstract"))
    mesh = tuple(str(h["DescriptorName"]) for h in citation.get("MeshHeadingList", []) or [] if h.get("DescriptorName"))
    keywords = tuple(flatten(k) for group in citation.get("KeywordList", []) or [] for k in group if flatten(k))
    language = art.get("Language") or []
    return Publication(
        pmid=str(pmid_el).strip(),
        version=_attr(pmid_el, "Version"),
        title=title,
        abstract=abstract,
        authors=parse_authors(art.get("AuthorList", [])),
        journal=flatten(journal.get("Title")),
        journal_abbrev=flatten(journal.get("ISOAbbreviation")),
        volume=flatten(issue.get("Volume")),
        issue=flatten(issue.get("Issue")),
        pages=flatten((art.get("Pagination") or {}).get("MedlinePgn")),
        pub_date=printed,
        sort_date=sortable,
        article_date=_ymd_dict(art.get("ArticleDate")),
        entrez_date=_history_date(data.get("History"), "entrez"),
        doi=doi,
        pmcid=_id_of(data.get("ArticleIdList"), "pmc"),
        publication_types=types,
        mesh_terms=mesh,
        keywords=keywords,
        language=str(language[0]) if language else None,
        nct_ids=tuple(dict.fromkeys(nct_ids)),
        text_nct_ids=_nct_in_text(title, abstract),
        is_retracted="Retracted Publication" in types or any(c.type == "RetractionIn" for c in corrections),
        corrections=corrections,
        raw_xml=raw,
    )


def parse_book(article: Any, raw: str = "") -> Publication:
    doc = article["BookDocument"]
    data = article.get("PubmedBookData", {}) or {}
    book = doc.get("Book", {}) or {}
    printed, sortable = parse_pub_date(book.get("PubDate"))
    title = flatten(doc.get("ArticleTitle")) or flatten(book.get("BookTitle"))
    abstract = parse_abstract(doc.get("Abstract"))
    language = doc.get("Language") or []
    return Publication(
        pmid=str(doc["PMID"]).strip(),
        version=_attr(doc["PMID"], "Version"),
        title=title,
        abstract=abstract,
        authors=parse_authors(doc.get("AuthorList", [])) or parse_authors(book.get("AuthorList", [])),
        journal=flatten(book.get("BookTitle")),
        pub_date=printed,
        sort_date=sortable or _ymd_dict(doc.get("ContributionDate")),
        entrez_date=_history_date(data.get("History"), "entrez"),
        doi=_id_of(data.get("ArticleIdList"), "doi"),
        publication_types=tuple(str(t) for t in doc.get("PublicationType", []) or []),
        keywords=tuple(flatten(k) for group in doc.get("KeywordList", []) or [] for k in group if flatten(k)),
        language=str(language[0]) if language else None,
        text_nct_ids=_nct_in_text(title, abstract),
        is_book=True,
        raw_xml=raw,
    )


def parse_pubmed_xml(body: bytes) -> list[Publication]:
    """An efetch PubmedArticleSet -> publications (articles, book articles, and deleted citations marked deleted)."""
    data = read_xml(body)
    if isinstance(data, list):  # older DTDs (before 2017) give a plain list of records
        data = {
            "PubmedArticle": [a for a in data if "MedlineCitation" in a],
            "PubmedBookArticle": [a for a in data if "BookDocument" in a],
        }
    if not isinstance(data, dict):
        raise ApiError("efetch answer is not a PubmedArticleSet")
    raw = split_records(body)
    pubs: list[Publication] = []
    for article in data.get("PubmedArticle", []):
        pmid = str(article["MedlineCitation"]["PMID"]).strip()
        pubs.append(parse_article(article, raw.get(pmid, "")))
    for article in data.get("PubmedBookArticle", []):
        pmid = str(article["BookDocument"]["PMID"]).strip()
        pubs.append(parse_book(article, raw.get(pmid, "")))
    for deleted in data.get("DeleteCitation", []) or []:
        for pmid in deleted if isinstance(deleted, list) else [deleted]:
            pubs.append(Publication(pmid=str(pmid).strip(), is_deleted=True, raw_xml=f"<DeleteCitation><PMID>{pmid}</PMID></DeleteCitation>"))
    return pubs
