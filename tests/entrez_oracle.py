"""The reference parse of PubMed efetch XML through Bio.Entrez.read: the oracle the product's ElementTree parser
(tracker.sources.pubmed.parse_pubmed_xml) is checked against on every real recording."""

from __future__ import annotations

import re
from typing import Any

from tracker.errors import ApiError
from tracker.models import Correction, Publication
from tracker.sources.pubmed import read_xml
from tracker.sources.pubmed.identity import article_identifiers, registrations
from tracker.sources.pubmed.articles import CORRECTION_TYPES, _nct_in_text, pub_date_fields, split_records

# Bio.Entrez decodes entities but keeps inline markup as text (MathML rewritten without its mml: prefix);
# strip those tags by name so that "<5 mg" stays.
TAG_RE = re.compile(r"</?(?:i|b|u|sub|sup|math|m[a-z]+|none|mml:[A-Za-z]+)(?:\s[^<>]*)?/?>")

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
    sections = abstract.get("AbstractText", [])
    for section in [sections] if isinstance(sections, str) else sections:  # older DTDs: one string
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


def parse_pub_date(pub_date: Any) -> tuple[str | None, str | None]:
    if not pub_date:
        return None, None
    month = pub_date.get("Month") or pub_date.get("Season")
    return pub_date_fields(pub_date.get("Year"), str(month) if month else None, pub_date.get("Day"), pub_date.get("MedlineDate"))


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


def _corrections(citation: Any) -> tuple[Correction, ...]:
    result = []
    for entry in citation.get("CommentsCorrectionsList", []) or []:
        kind = _attr(entry, "RefType")
        if kind in CORRECTION_TYPES:
            pmid = entry.get("PMID")
            result.append(Correction(type=kind, pmid=str(pmid) if pmid else None, source=entry.get("RefSource")))
    return tuple(result)


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
    nct_ids, accessions = [], []
    for bank in art.get("DataBankList", []) or []:
        accessions.extend(str(a).strip() for a in bank.get("AccessionNumberList", []))
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
        registrations=registrations(accessions),
        identifiers=article_identifiers(str(pmid_el).strip(), doi, _id_of(data.get("ArticleIdList"), "pmc")),
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
        identifiers=article_identifiers(str(doc["PMID"]).strip(), _id_of(data.get("ArticleIdList"), "doi"), None),
        raw_xml=raw,
    )


def entrez_parse_pubmed_xml(body: bytes) -> list[Publication]:
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
