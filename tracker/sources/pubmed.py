"""PubMed through NCBI E-utilities: esearch (history server, read with Bio.Entrez) and efetch in batches, entry-
and modification-date windows under the 10,000 cap, and parse_pubmed_xml -> Publication (xml.etree, checked
against a Bio.Entrez oracle in the tests). Never touches the store."""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Iterator

from Bio import Entrez
from lxml import etree as ET

from ..gc_pause import gc_paused

from ..errors import ApiError
from ..http import HttpClient, RetryableBody
from ..models import Correction, Publication, Query
from ..settings import Settings
from .base import Batch, Source

log = logging.getLogger("tracker.pubmed")

TOOL = "tracker"
BATCH_SIZE = 250
CAP = 10_000  # PubMed returns at most the first 10,000 hits of a query
FIRST_DATE = date(1781, 1, 1)  # older than anything PubMed indexes
NCT_RE = re.compile(r"\bNCT\s?(\d{8})\b", re.IGNORECASE)
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
    translation: str | None = None  # how PubMed read the term (automatic term mapping can change it)


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
        yield Batch(records=pubs, expected=expected if expected is not None else search.count)


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


def fetch_line(client: HttpClient, settings: Settings, query: Query, since: date | None, now: datetime) -> Iterator[Batch]:
    """Every publication of a line (since None: the first run), or those entered or modified on or after `since`."""
    term, label = query.pubmed_term or "", query.name
    today = now.date()
    if since is None:
        search = esearch(client, settings, term, label=label)
        if search.count < CAP:
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


# A record's entry and modification dates can be stamped a day or two after the day it became visible: three days
# of overlap re-read them; the store's upsert makes the repeat harmless.
SOURCE = Source(name="pubmed", label="PubMed", overlap=timedelta(days=3), applies=lambda q: bool(q.pubmed_term), fetch=fetch_line)


# -- parsing ---------------------------------------------------------------------------------------
#
# Articles are read with lxml, configured safely (no entity expansion, no network, large records allowed): its tree
# build is the floor of any parser (bench/), where Bio.Entrez.read spends about 1.5 ms per article on DTD-driven
# objects and xml.etree 3.6 times lxml's time. Each record's raw XML is cut from the body by byte search. The cyclic
# garbage collector is paused while a batch is parsed: a tree is acyclic, and the collector's passes over millions of
# young objects were half the cost of building it. Tests check, on every real recording, that this parser gives
# exactly what the previous ElementTree parser and a Bio.Entrez.read-based parse give.

def flatten(element: ET.Element | None) -> str | None:
    """An element's text with its inline markup (<i>, <sub>, MathML) flattened and whitespace collapsed. Entities
    are decoded by the XML parser, so "&lt;5 mg" reads "<5 mg" and stays text."""
    if element is None:
        return None
    text = " ".join("".join(element.itertext()).split())
    return text or None


def _find_text(element: ET.Element | None, path: str) -> str | None:
    found = element.find(path) if element is not None else None
    return flatten(found) if found is not None else None


def parse_abstract(abstract: ET.Element | None) -> str | None:
    if abstract is None:
        return None
    parts = []
    for section in abstract.findall("AbstractText"):
        text = flatten(section)
        if not text:
            continue
        label = section.get("Label")
        parts.append(f"{label}: {text}" if label else text)
    return "\n".join(parts) or None


def parse_authors(container: ET.Element | None) -> tuple[str, ...]:
    names = []
    if container is None:
        return ()
    for author in container.iter("Author"):
        last = initials = None
        for part in author:  # one pass over the author's children instead of a find per field
            tag = part.tag
            if tag == "CollectiveName":
                names.append(flatten(part))
                break
            if tag == "LastName":
                last = part.text
            elif tag == "Initials":
                initials = part.text
        else:
            if last and last.strip():
                names.append(f"{last.strip()} {(initials or '').strip()}".strip())
    return tuple(n for n in names if n)


def _month(text: str | None) -> int | None:
    if not text:
        return None
    text = text.strip().lower()
    if text.isdigit():
        return int(text) if 1 <= int(text) <= 12 else None
    return MONTHS.get(text[:3]) or SEASONS.get(text)


def pub_date_fields(year: str | None, month_text: str | None, day: str | None, medline: str | None) -> tuple[str | None, str | None]:
    """(as printed, sortable YYYY-MM-DD) from a PubDate's parts: Year/Month/Day, Year/Season, or a MedlineDate
    such as "1998 Dec-1999 Jan" (sorted by its first year and month)."""
    if medline:
        printed = medline.strip()
        found_year = re.search(r"\b(1[6-9]\d\d|20\d\d)\b", printed)
        month_match = re.search(r"\b([A-Za-z]{3})[a-z]*\b", printed)
        month = _month(month_match.group(1)) if month_match else None
        if not found_year:
            return printed, None
        return printed, f"{found_year.group(1)}-{month or 1:02d}-01"
    year, day = (year or "").strip(), (day or "").strip()
    printed = " ".join(str(p).strip() for p in (year, month_text, day) if p)
    if not year.isdigit():
        return printed or None, None
    month = _month(month_text) if month_text else None
    return printed, f"{year}-{month or 1:02d}-{int(day) if day.isdigit() and month else 1:02d}"


def parse_pub_date(pub_date: ET.Element | None) -> tuple[str | None, str | None]:
    if pub_date is None:
        return None, None
    return pub_date_fields(
        pub_date.findtext("Year"), pub_date.findtext("Month") or pub_date.findtext("Season"), pub_date.findtext("Day"),
        pub_date.findtext("MedlineDate"),
    )


def _element_date(element: ET.Element | None) -> str | None:
    if element is None:
        return None
    try:
        return f"{int(element.findtext('Year')):04d}-{int(element.findtext('Month') or 1):02d}-{int(element.findtext('Day') or 1):02d}"
    except (TypeError, ValueError):
        return None


def _history_date(history: ET.Element | None, status: str) -> str | None:
    for entry in history.findall("PubMedPubDate") if history is not None else []:
        if entry.get("PubStatus") == status:
            return _element_date(entry)
    return None


def _id_of(ids: ET.Element | None, kind: str) -> str | None:
    for value in ids.findall("ArticleId") if ids is not None else []:
        if value.get("IdType") == kind:
            return (value.text or "").strip() or None
    return None


def _nct_in_text(*texts: str | None) -> tuple[str, ...]:
    found = []
    for text in texts:
        if not text or ("NCT" not in text and "nct" not in text.lower()):  # substring tests in C before the regex
            continue
        for match in NCT_RE.finditer(text):
            found.append(f"NCT{match.group(1)}")
    return tuple(dict.fromkeys(found))


def _corrections(citation: dict[Any, list[ET.Element]]) -> tuple[Correction, ...]:
    """From the citation's children (see _index)."""
    result = []
    for entry in _all(citation, "CommentsCorrectionsList", "CommentsCorrections"):
        kind = entry.get("RefType")
        if kind in CORRECTION_TYPES:
            pmid = (entry.findtext("PMID") or "").strip()
            result.append(Correction(type=kind, pmid=pmid or None, source=entry.findtext("RefSource")))
    return tuple(result)


def _keywords(parent: ET.Element) -> tuple[str, ...]:
    return tuple(k for k in (flatten(el) for el in parent.iterfind("KeywordList/Keyword")) if k)


def _index(element: ET.Element | None) -> dict[Any, list[ET.Element]]:
    """An element's children by tag, in document order: one pass instead of a path lookup per field."""
    children: dict[Any, list[ET.Element]] = {}
    if element is not None:
        for child in element:
            children.setdefault(child.tag, []).append(child)
    return children


def _one(children: dict[Any, list[ET.Element]], tag: str) -> ET.Element | None:
    found = children.get(tag)
    return found[0] if found else None


def _all(children: dict[Any, list[ET.Element]], tag: str, inner: str) -> Iterator[ET.Element]:
    """Every `inner` child of every `tag` child (a path tag/inner)."""
    for parent in children.get(tag, ()):
        for child in parent:  # works on lxml and xml.etree elements alike (the tests run both)
            if child.tag == inner:
                yield child


def parse_article(article: ET.Element, raw: str = "") -> Publication:
    top = _index(article)
    citation = _one(top, "MedlineCitation")
    cit = _index(citation)
    art_el = _one(cit, "Article")
    art = _index(art_el)
    data = _one(top, "PubmedData")
    pmid_el = _one(cit, "PMID")
    journal = _one(art, "Journal")
    issue = journal.find("JournalIssue") if journal is not None else None
    printed, sortable = parse_pub_date(issue.find("PubDate") if issue is not None else None)
    doi = None
    for loc in art.get("ELocationID", ()):
        if loc.get("EIdType") == "doi":
            doi = (loc.text or "").strip() or None
    ids = data.find("ArticleIdList") if data is not None else None
    doi = doi or _id_of(ids, "doi")
    nct_ids = []
    for bank in _all(art, "DataBankList", "DataBank"):
        if (bank.findtext("DataBankName") or "").lower().startswith("clinicaltrials"):
            nct_ids.extend((a.text or "").strip().upper() for a in bank.iterfind("AccessionNumberList/AccessionNumber"))
    types = tuple((t.text or "").strip() for t in _all(art, "PublicationTypeList", "PublicationType"))
    corrections = _corrections(cit)
    title = flatten(_one(art, "ArticleTitle")) or flatten(_one(art, "VernacularTitle"))
    abstract = parse_abstract(_one(art, "Abstract"))
    mesh = tuple((d.text or "").strip() for heading in _all(cit, "MeshHeadingList", "MeshHeading") for d in heading if d.tag == "DescriptorName")
    language = _one(art, "Language")
    pages = next((flatten(p) for p in _all(art, "Pagination", "MedlinePgn")), None)
    return Publication(
        pmid=(pmid_el.text or "").strip(),
        version=pmid_el.get("Version"),
        title=title,
        abstract=abstract,
        authors=parse_authors(_one(art, "AuthorList")),
        journal=_find_text(journal, "Title"),
        journal_abbrev=_find_text(journal, "ISOAbbreviation"),
        volume=_find_text(issue, "Volume"),
        issue=_find_text(issue, "Issue"),
        pages=pages,
        pub_date=printed,
        sort_date=sortable,
        article_date=_element_date(_one(art, "ArticleDate")),
        entrez_date=_history_date(data.find("History") if data is not None else None, "entrez"),
        doi=doi,
        pmcid=_id_of(ids, "pmc"),
        publication_types=types,
        mesh_terms=mesh,
        keywords=tuple(k for k in (flatten(el) for el in _all(cit, "KeywordList", "Keyword")) if k),
        language=(language.text or "").strip() or None if language is not None else None,
        nct_ids=tuple(dict.fromkeys(nct_ids)),
        text_nct_ids=_nct_in_text(title, abstract),
        is_retracted="Retracted Publication" in types or any(c.type == "RetractionIn" for c in corrections),
        corrections=corrections,
        raw_xml=raw,
    )


def parse_book(article: ET.Element, raw: str = "") -> Publication:
    doc = article.find("BookDocument")
    data = article.find("PubmedBookData")
    book = doc.find("Book")
    printed, sortable = parse_pub_date(book.find("PubDate") if book is not None else None)
    title = _find_text(doc, "ArticleTitle") or _find_text(book, "BookTitle")
    abstract = parse_abstract(doc.find("Abstract"))
    language = doc.findtext("Language")
    authors = ()
    for author_list in doc.findall("AuthorList"):
        authors += parse_authors(author_list)
    if not authors and book is not None:
        for author_list in book.findall("AuthorList"):
            authors += parse_authors(author_list)
    pmid_el = doc.find("PMID")
    return Publication(
        pmid=(pmid_el.text or "").strip(),
        version=pmid_el.get("Version"),
        title=title,
        abstract=abstract,
        authors=authors,
        journal=_find_text(book, "BookTitle"),
        pub_date=printed,
        sort_date=sortable or _element_date(doc.find("ContributionDate")),
        entrez_date=_history_date(data.find("History") if data is not None else None, "entrez"),
        doi=_id_of(data.find("ArticleIdList") if data is not None else None, "doi"),
        publication_types=tuple((t.text or "").strip() for t in doc.findall("PublicationType")),
        keywords=_keywords(doc),
        language=language.strip() if language else None,
        text_nct_ids=_nct_in_text(title, abstract),
        is_book=True,
        raw_xml=raw,
    )


PMID_RE = re.compile(rb"<PMID[^>]*>\s*(\d+)\s*</PMID>")
RECORD_TAGS = ((b"<PubmedArticle>", b"</PubmedArticle>"), (b"<PubmedBookArticle>", b"</PubmedBookArticle>"))
# No entity expansion, no DTD or network access, records of any size. (collect_ids=False would be faster, but makes
# libxml2 reach for the DTD of old records.)
PARSER = ET.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, load_dtd=False)


def split_records(body: bytes) -> dict[str, str]:
    """Each record's own XML element as received, by PMID (kept as raw_xml). bytes.find jumps from tag to tag in C;
    the record's own PMID is the first <PMID> inside it."""
    records: dict[str, str] = {}
    for opening, closing in RECORD_TAGS:
        start = body.find(opening)
        while start != -1:
            end = body.find(closing, start)
            if end == -1:
                break
            end += len(closing)
            pmid = PMID_RE.search(body, start, end)
            if pmid:
                records.setdefault(pmid.group(1).decode(), body[start:end].decode("utf-8", "replace"))
            start = body.find(opening, end)
    return records


def parse_pubmed_xml(body: bytes) -> list[Publication]:
    """An efetch PubmedArticleSet -> publications (articles, book articles, and deleted citations marked deleted).
    A rate-limit notice or malformed XML is a RetryableBody; an <ERROR> answer is an ApiError."""
    _check_rate_limit(body)
    with gc_paused():
        return _parse_set(body)


def _parse_set(body: bytes) -> list[Publication]:
    try:
        root = ET.fromstring(body, PARSER)
    except ET.XMLSyntaxError as exc:
        raise RetryableBody(f"malformed or cut-off XML ({exc})") from None
    if root is None:
        raise RetryableBody("empty XML answer")
    if root.tag != "PubmedArticleSet":
        error = root.findtext(".//ERROR")
        if error:
            raise ApiError(" ".join(error.split()))
        raise ApiError(f"efetch answer is a {root.tag}, not a PubmedArticleSet")
    raw = split_records(body)
    pubs: list[Publication] = []
    for element in root:
        if element.tag == "PubmedArticle":
            pmid = (element.findtext("MedlineCitation/PMID") or "").strip()
            pubs.append(parse_article(element, raw.get(pmid, "")))
        elif element.tag == "PubmedBookArticle":
            pmid = (element.findtext("BookDocument/PMID") or "").strip()
            pubs.append(parse_book(element, raw.get(pmid, "")))
        elif element.tag == "DeleteCitation":
            for pmid_el in element.findall("PMID"):
                pmid = (pmid_el.text or "").strip()
                pubs.append(Publication(pmid=pmid, is_deleted=True, raw_xml=f"<DeleteCitation><PMID>{pmid}</PMID></DeleteCitation>"))
    return pubs
