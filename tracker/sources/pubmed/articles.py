"""Reading efetch answers: a PubmedArticleSet -> Publication records (articles, book articles, deleted citations),
each with its own raw XML. Pure: no network, no store. `tracker.sources.pubmed.parse_pubmed_xml` re-exports the
entry point."""

from __future__ import annotations

import logging
import re
from typing import Any, Iterator, NoReturn

from lxml import etree as ET

from ...errors import ApiError
from ...gc_pause import gc_paused
from ...http import RetryableBody
from ...models import Correction, Publication, built
from ...evidence import CONCLUSIONS_RE
from ..fields import drifted, valid_date
from .identity import article_identifiers, registrations

log = logging.getLogger("tracker.pubmed")

NCT_RE = re.compile(r"\bNCT\s?(\d{8})\b", re.IGNORECASE)
MONTHS = {m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
SEASONS = {"spring": 3, "summer": 6, "fall": 9, "autumn": 9, "winter": 12}
CORRECTION_TYPES = {"RetractionIn", "ErratumIn", "ExpressionOfConcernIn", "UpdateIn", "RetractionOf", "PartialRetractionIn"}


# <ERROR> texts NCBI gives when its own backend hiccups: asked again with backoff, not a failed line
TRANSIENT_ERROR_RE = re.compile(r"backend failed|temporarily unavailable|try again later|timed? ?out", re.IGNORECASE)


def check_error(text: str) -> NoReturn:
    """Raise for an <ERROR> text: a RetryableBody when it says NCBI's backend hiccupped, else an ApiError."""
    text = " ".join(text.split())
    if TRANSIENT_ERROR_RE.search(text):
        raise RetryableBody(f"NCBI answered: {text}")
    raise ApiError(text)


def check_rate_limit(body: bytes) -> None:
    """NCBI answers an over-rate request with a JSON notice in place of XML: retry it."""
    head = body.lstrip()[:200]
    if head.startswith(b"{") and b"rate limit" in head.lower():
        raise RetryableBody("NCBI rate limit exceeded")


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
    if len(element):  # inline markup: gather every piece (itertext costs ~1.5 us a call even on a leaf)
        text = "".join(element.itertext())
    else:
        text = element.text
        if text is None:
            return None
    return collapse_space(text)


def collapse_space(text: str) -> str | None:
    """Whitespace runs as one space, none at either end (" ".join(text.split())), or None when nothing is left.
    Most text is already so; isprintable() is false for every whitespace character but the ASCII space (they are
    Unicode controls or separators), so such text is returned as it is, without splitting it into words."""
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text or None
    return " ".join(text.split()) or None


def _child(element: ET.Element | None, tag: str) -> ET.Element | None:
    """The first child with this tag, as element.find(tag) gives it, at half its cost on lxml (find goes through
    ElementPath for a single tag too)."""
    if element is not None:
        for child in element:
            if child.tag == tag:
                return child
    return None


def _path_text(element: ET.Element, outer: str, inner: str) -> str | None:
    """element.findtext("outer/inner") without ElementPath: the first inner child of any outer child ("" when it
    has no text, None when there is none)."""
    for parent in element:
        if parent.tag == outer:
            for child in parent:
                if child.tag == inner:
                    return child.text or ""
    return None


def _find_text(element: ET.Element | None, tag: str) -> str | None:
    found = _child(element, tag)
    return flatten(found) if found is not None else None


def parse_abstract(abstract: ET.Element | None) -> str | None:
    if abstract is None:
        return None
    parts = []
    for section in abstract:
        if section.tag != "AbstractText":
            continue
        text = flatten(section)
        if not text:
            continue
        label = section.get("Label")
        parts.append(f"{label}: {text}" if label else text)
    return "\n".join(parts) or None


def conclusions_of(raw_xml: str | None) -> str | None:
    """A stored article's conclusions, as its structured abstract states them: the AbstractText sections NLM
    categorised CONCLUSIONS, else those labelled as conclusions (evidence.CONCLUSIONS_RE). None for an unstructured
    abstract: its first or last sentences are not dressed up as conclusions."""
    start = raw_xml.find("<Abstract>") if raw_xml else -1
    end = raw_xml.find("</Abstract>", start) if start != -1 else -1
    if end == -1:
        return None
    fragment = raw_xml[start:end + len("</Abstract>")]  # only the abstract is parsed: a digest reads hundreds
    if "NlmCategory=" not in fragment and "Label=" not in fragment:  # unstructured
        return None
    try:
        element = ET.fromstring(fragment.encode("utf-8"), PARSER)
    except ET.XMLSyntaxError:
        return None
    sections = [s for s in element if s.tag == "AbstractText"]
    chosen = [s for s in sections if (s.get("NlmCategory") or "").upper() == "CONCLUSIONS"] \
        or [s for s in sections if CONCLUSIONS_RE.match(s.get("Label") or "")]
    text = " ".join(t for t in (flatten(s) for s in chosen) if t)
    return text or None


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
    text = text.strip().lower().split("-")[0].strip()  # a season range ("Winter-Spring") sorts by its first
    if text.isdigit():
        return int(text) if 1 <= int(text) <= 12 else None
    return MONTHS.get(text[:3]) or SEASONS.get(text)


def pub_date_fields(year: str | None, month_text: str | None, day: str | None, medline: str | None) -> tuple[str | None, str | None]:
    """(as printed, sortable YYYY-MM-DD) from a PubDate's parts: Year/Month/Day, Year/Season, or a MedlineDate
    such as "1998 Dec-1999 Jan" (sorted by its first year and month). A month or a day that does not exist
    ("13", "Feb 30") leaves no sortable date: the printed one stays as PubMed gave it."""
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
    if not (len(year) == 4 and year.isdigit()):
        return printed or None, None
    month = _month(month_text) if month_text else None
    if month_text and month_text.strip() and month is None:
        return printed, None
    sortable = f"{year}-{month or 1:02d}-{int(day) if day.isdigit() and month else 1:02d}"
    if day and month and not (day.isdigit() and valid_date(sortable)):
        return printed, None
    return printed, sortable


def _dated(pmid: str, name: str, printed: str | None, sortable: str | None) -> str | None:
    """A sortable date, or None said when PubMed printed a date that names no day that exists."""
    if printed and sortable is None:
        drifted(pmid, name, printed, None, why="not a date that exists")
    return sortable


def parse_pub_date(pub_date: ET.Element | None) -> tuple[str | None, str | None]:
    if pub_date is None:
        return None, None
    parts = _texts(pub_date)
    return pub_date_fields(parts.get("Year"), parts.get("Month") or parts.get("Season"), parts.get("Day"), parts.get("MedlineDate"))


def _texts(element: ET.Element) -> dict[Any, str]:
    """A flat element's children as {tag: text} in one pass (the first of a tag counts, as with findtext; a child
    without text reads "", as findtext gives)."""
    parts: dict[Any, str] = {}
    for child in element:
        parts.setdefault(child.tag, child.text or "")
    return parts


def _element_date(element: ET.Element | None, pmid: str = "", name: str = "") -> str | None:
    """A Year/Month/Day element's date; one naming no day that exists is None, said when the caller names it."""
    if element is None:
        return None
    parts = _texts(element)
    try:
        found = f"{int(parts.get('Year')):04d}-{int(parts.get('Month') or 1):02d}-{int(parts.get('Day') or 1):02d}"
    except (TypeError, ValueError):
        found = None
    if found is None or not valid_date(found):
        if name and any(parts.values()):
            drifted(pmid, name, {k: v for k, v in parts.items() if isinstance(k, str)}, None, why="not a date that exists")
        return None
    return found


def _history_date(history: ET.Element | None, status: str, pmid: str = "") -> str | None:
    for entry in history if history is not None else ():
        if entry.tag == "PubMedPubDate" and entry.get("PubStatus") == status:
            return _element_date(entry, pmid, f"History/{status}")
    return None


def _ids_by_type(ids: ET.Element | None) -> dict[str | None, str | None]:
    """An ArticleIdList as {IdType: id} in one pass: the first ArticleId of each type counts (None when it is empty)."""
    found: dict[str | None, str | None] = {}
    for value in ids if ids is not None else ():
        if value.tag == "ArticleId":
            found.setdefault(value.get("IdType"), (value.text or "").strip() or None)
    return found


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
    if pmid_el is None:  # a second MedlineCitation holds it (malformed, seen in no recording): the one the caller keyed
        pmid_el = article.find("MedlineCitation/PMID")
    journal = _one(art, "Journal")
    issue = _child(journal, "JournalIssue")
    printed, sortable = parse_pub_date(_child(issue, "PubDate"))
    doi = None
    for loc in art.get("ELocationID", ()):
        if loc.get("EIdType") == "doi":
            doi = (loc.text or "").strip() or None
    ids = _ids_by_type(_child(data, "ArticleIdList"))
    doi = doi or ids.get("doi")
    nct_ids = []
    accessions = []  # of every databank: the trial registrations among them are kept (registrations)
    for bank in _all(art, "DataBankList", "DataBank"):
        numbers = [(a.text or "").strip() for a in bank.iterfind("AccessionNumberList/AccessionNumber")]
        accessions.extend(numbers)
        if (bank.findtext("DataBankName") or "").lower().startswith("clinicaltrials"):
            nct_ids.extend(n.upper() for n in numbers)
    pmid = (pmid_el.text or "").strip()
    sortable = _dated(pmid, "PubDate", printed, sortable)
    types = tuple((t.text or "").strip() for t in _all(art, "PublicationTypeList", "PublicationType"))
    corrections = _corrections(cit)
    title = flatten(_one(art, "ArticleTitle")) or flatten(_one(art, "VernacularTitle"))
    abstract = parse_abstract(_one(art, "Abstract"))
    mesh = tuple((d.text or "").strip() for heading in _all(cit, "MeshHeadingList", "MeshHeading") for d in heading if d.tag == "DescriptorName")
    language = _one(art, "Language")
    pages = next((flatten(p) for p in _all(art, "Pagination", "MedlinePgn")), None)
    return built(
        Publication,
        pmid=pmid,
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
        article_date=_element_date(_one(art, "ArticleDate"), pmid, "ArticleDate"),
        entrez_date=_history_date(_child(data, "History"), "entrez", pmid),
        doi=doi,
        pmcid=ids.get("pmc"),
        publication_types=types,
        mesh_terms=mesh,
        keywords=tuple(k for k in (flatten(el) for el in _all(cit, "KeywordList", "Keyword")) if k),
        language=(language.text or "").strip() or None if language is not None else None,
        nct_ids=tuple(dict.fromkeys(nct_ids)),
        text_nct_ids=_nct_in_text(title, abstract),
        registrations=registrations(accessions) if accessions else (),
        is_retracted="Retracted Publication" in types or any(c.type == "RetractionIn" for c in corrections),
        corrections=corrections,
        identifiers=article_identifiers(pmid, doi, ids.get("pmc")),
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
    pmid = (pmid_el.text or "").strip()
    sortable = _dated(pmid, "PubDate", printed, sortable)
    doi = _ids_by_type(_child(data, "ArticleIdList")).get("doi")
    return built(
        Publication,
        pmid=pmid,
        version=pmid_el.get("Version"),
        title=title,
        abstract=abstract,
        authors=authors,
        journal=_find_text(book, "BookTitle"),
        pub_date=printed,
        sort_date=sortable or _element_date(doc.find("ContributionDate"), pmid, "ContributionDate"),
        entrez_date=_history_date(_child(data, "History"), "entrez", pmid),
        doi=doi,
        publication_types=tuple((t.text or "").strip() for t in doc.findall("PublicationType")),
        keywords=_keywords(doc),
        language=language.strip() if language else None,
        text_nct_ids=_nct_in_text(title, abstract),
        is_book=True,
        identifiers=article_identifiers(pmid, doi, None),
        raw_xml=raw,
    )


PMID_RE = re.compile(rb"<PMID[^>]*>\s*(\d+)\s*</PMID>")
RECORD_TAGS = ((b"<PubmedArticle>", b"</PubmedArticle>"), (b"<PubmedBookArticle>", b"</PubmedBookArticle>"))
# No entity expansion, no DTD or network access, records of any size. (collect_ids=False would be faster, but makes
# libxml2 reach for the DTD of old records.)
PARSER = ET.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, load_dtd=False)


def split_records(body: bytes) -> dict[str, str]:
    """Each record's own XML element as received, by PMID (kept as raw_xml); the first record with a PMID keeps it.
    One pass: bytes.find jumps in C from one "<Pubmed" to the next record's (a pass per record kind read the whole
    body twice), and from a record's opening tag to its closing one. The record's own PMID is the first <PMID> in it."""
    records: dict[str, str] = {}
    start = body.find(b"<Pubmed")
    while start != -1:
        end = start + 1
        for opening, closing in RECORD_TAGS:
            if body.startswith(opening, start):
                close = body.find(closing, start)
                if close == -1:
                    return records
                end = close + len(closing)
                pmid = PMID_RE.search(body, start, end)
                if pmid:
                    records.setdefault(pmid.group(1).decode(), body[start:end].decode("utf-8", "replace"))
                break
        start = body.find(b"<Pubmed", end)
    return records


RECORDS = {"PubmedArticle": ("MedlineCitation", parse_article), "PubmedBookArticle": ("BookDocument", parse_book)}  # where the PMID is


def parse_pubmed_xml(body: bytes) -> list[Publication]:
    """An efetch PubmedArticleSet -> publications (articles, book articles, and deleted citations marked deleted).
    A rate-limit notice or malformed XML is a RetryableBody; an <ERROR> answer is an ApiError."""
    check_rate_limit(body)
    with gc_paused():
        return _parse_set(body)


def _parse_set(body: bytes) -> list[Publication]:
    try:
        root = ET.fromstring(body, PARSER)
    except ET.XMLSyntaxError as exc:
        if "not proper UTF-8" not in str(exc) and "Invalid bytes in character encoding" not in str(exc):
            raise RetryableBody(f"malformed or cut-off XML ({exc})") from None
        # bytes that are not UTF-8 in one record must not fail the batch on every run: read them as U+FFFD, say so
        body = body.decode("utf-8", errors="replace").encode("utf-8")
        log.warning("PubMed sent bytes that are not UTF-8; read as U+FFFD (\ufffd) in the records holding them")
        try:
            root = ET.fromstring(body, PARSER)
        except ET.XMLSyntaxError as again:
            raise RetryableBody(f"malformed or cut-off XML ({again})") from None
    if root is None:
        raise RetryableBody("empty XML answer")
    if isinstance(root.tag, str) and root.tag.lower() == "html":  # a gateway's or maintenance page, with HTTP 200
        raise RetryableBody("an HTML page instead of XML")
    if root.tag != "PubmedArticleSet":
        error = root.findtext(".//ERROR")
        if error:
            check_error(error)
        raise ApiError(f"efetch answer is a {root.tag}, not a PubmedArticleSet")
    raw = split_records(body)
    pubs: list[Publication] = []
    for element in root:
        if element.tag in RECORDS:
            holder, parse = RECORDS[element.tag]
            pmid = (_path_text(element, holder, "PMID") or "").strip()
            if not pmid.isdigit():  # nothing to key it by: the rest of the answer is still good
                log.warning("skipped a PubMed %s without a PMID (%r)", element.tag, pmid[:40])
                continue
            # a record the byte cut did not find (an opening tag with attributes, say) keeps lxml's serialisation:
            # an empty raw_xml would hash alike for every such record, and hide their changes
            pubs.append(parse(element, raw.get(pmid) or ET.tostring(element, encoding="unicode", with_tail=False)))
        elif element.tag == "DeleteCitation":
            for pmid_el in element.findall("PMID"):
                pmid = (pmid_el.text or "").strip()
                if not pmid.isdigit():
                    continue
                pubs.append(Publication(pmid=pmid, is_deleted=True, raw_xml=f"<DeleteCitation><PMID>{pmid}</PMID></DeleteCitation>"))
    return pubs
