"""Europe PMC's REST API (https://www.ebi.ac.uk/europepmc/webservices/rest): /search paged by cursorMark, a line's
window on the first-index date, the stored preprints asked again for their journal version, and the Annotations
API's trial ids text-mined from full texts, with the section each stands in. Parsing of /search results into Works."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from datetime import date, datetime
from typing import Any, Iterator

from ...errors import TrackerError
from ...http import HttpClient, RetryableBody
from ...evidence import CONCLUSIONS_RE
from ...identifiers import TRIAL_SCHEMES, normalise, recognise
from ...models import Query, Work, built
from ..base import Batch, json_answer, short_batch
from ..rows import dig, listed
from ..fields import CleanFields, text

log = logging.getLogger("tracker.europepmc")

PAGE_SIZE = 1000  # the most a page may hold
ANNOTATED_AT_ONCE = 8  # article ids per Annotations API request
REVISITED_AT_ONCE = 50  # stored preprints asked again per search
TRIAL_TYPES = frozenset({"nct", "isrctn", "eudract", "euctr", "chictr", "ctri", "drks", "anzctr", "jrct", "umin", "irct", "kct"})
# a trial id in one of these sections reads as "reports this trial"; in tables, figures or references as "mentions"
REPORTING_SECTIONS = ("method", "material", "trial registration", "registration", "study design", "abstract", "title")
ARTICLE_URL = "https://europepmc.org/article/{}/{}"
OWN_SCHEME = {"MED": "pmid", "PMC": "pmcid", "PPR": "ppr"}


def parse_search(body: bytes) -> dict[str, Any]:
    """A /search answer; an HTML page, cut-off JSON or an answer without its result list is asked for again."""
    page = json_answer(body, dict, "a Europe PMC answer that is not an object")
    if not isinstance((page.get("resultList") or {}).get("result"), list):
        if page.get("errCode"):
            raise TrackerError(f"Europe PMC refused the search: {page.get('errMsg') or page.get('errCode')}")
        raise RetryableBody("a Europe PMC answer without its result list")
    return page


def parse_annotations(body: bytes) -> list[dict[str, Any]]:
    return json_answer(body, list, "an Annotations API answer that is not a list of articles")


def window_query(query: str, since: date | None, now: datetime) -> str:
    """The line's query, windowed on the date Europe PMC first indexed a record (late-indexed records are missed
    by a publication-date window)."""
    return f"({query}) AND FIRST_IDATE:[{since.isoformat()} TO {now.date().isoformat()}]" if since else query


def fetch_pages(client: HttpClient, base_url: str, query: str, *, result_type: str = "core", page_size: int | None = None,
                label: str = "") -> Iterator[tuple[list[dict[str, Any]], int]]:
    """Every page of a search, by cursorMark: (its results, hitCount). Stops when nextCursorMark is absent (no hits),
    echoes the cursor sent (the last page) or a page is empty; a cursor given twice, or paging far past the count,
    is an error rather than a loop."""
    cursor, seen, got = "*", set(), 0
    while True:
        page = client.get(base_url.rstrip("/") + "/search", {"query": query, "format": "json", "resultType": result_type,
                                                             "pageSize": str(page_size or PAGE_SIZE), "cursorMark": cursor},
                          parse=parse_search)
        results = [r for r in page["resultList"]["result"] if isinstance(r, dict) and r.get("id") and r.get("source")]
        hits = page.get("hitCount") if isinstance(page.get("hitCount"), int) else 0
        got += len(results)
        yield results, hits
        following = page.get("nextCursorMark")
        if not results or not following or following == cursor:
            return
        if following in seen or got > hits + PAGE_SIZE:
            raise TrackerError(f"Europe PMC paging of line {label or query[:40]} does not end (cursor repeated or past the "
                               f"{hits} records counted); nothing of it stored")
        seen.add(cursor)
        cursor = following


def fetch_line(client: HttpClient, settings: Any, query: Query, since: date | None, now: datetime) -> Iterator[Batch]:
    q = window_query(query.params["europepmc"]["query"], since, now)
    total = got = 0
    for results, hits in fetch_pages(client, settings.europepmc_url, q, label=query.name):
        total = hits
        works = [parse_result(r) for r in results]
        got += len(works)
        yield Batch(with_mentions(client, settings, works), hits)
    if got < total:
        yield short_batch("Europe PMC", query.name, f"Europe PMC counted {total} records and returned {got} ({total - got} missing)",
                          total, later="the next run asks for the window again")


def revisit(client: HttpClient, settings: Any, ids: list[str]) -> list[Work]:
    """Stored preprints asked again by their ids: a preprint's record gains its journal version ("Preprint of")
    without being indexed again, so no date window would bring it back."""
    return fetch_ids(client, settings, [i for i in ids if i.startswith("PPR:")])


def count(client: HttpClient, settings: Any, query: str) -> int:
    page = client.get(settings.europepmc_url.rstrip("/") + "/search",
                      {"query": query, "format": "json", "resultType": "idlist", "pageSize": "1"}, parse=parse_search)
    return page.get("hitCount") if isinstance(page.get("hitCount"), int) else 0


# -- full-text trial mentions ------------------------------------------------------------------------

def _section(annotation: dict[str, Any]) -> str:
    """'Methods (http://purl.org/orb/Methods)' -> 'Methods'; 'not given' when the annotation names none."""
    return text(re.sub(r"\s*\(https?://[^)]*\)\s*$", "", str(annotation.get("section") or ""))) or "not given"


def reading(sections: list[str]) -> str:
    """How a paper stands to a trial its full text names: 'reports' when an id stands in its methods, trial
    registration, abstract or title, else 'mentions' (a table, the references, the discussion)."""
    return "reports" if any(any(key in s.lower() for key in REPORTING_SECTIONS) for s in sections) else "mentions"


def mentions_of(article: dict[str, Any]) -> tuple[tuple[str, str, str], ...]:
    """(scheme, value, sections) of each trial registration an article's annotations name (read from tags[].name:
    `exact` may carry punctuation), its sections joined in order."""
    found: dict[tuple[str, str], list[str]] = {}
    for annotation in article.get("annotations") or ():
        if not isinstance(annotation, dict):
            continue
        for tag in annotation.get("tags") or ():
            name = text(tag.get("name")) if isinstance(tag, dict) else None
            registration = recognise(name, TRIAL_SCHEMES) if name else None
            if registration:
                sections = found.setdefault(registration, [])
                if _section(annotation) not in sections:
                    sections.append(_section(annotation))
    return tuple((scheme, value, "; ".join(sections)) for (scheme, value), sections in found.items())


def with_mentions(client: HttpClient, settings: Any, works: list[Work]) -> list[Work]:
    """The works whose full text has text-mined trial ids, with those ids and their sections (Annotations API)."""
    wanted = [w for w in works if TRIAL_TYPES & set(w.mined_types)]
    if not wanted:
        return works
    by_id: dict[str, tuple[tuple[str, str, str], ...]] = {}
    for start in range(0, len(wanted), ANNOTATED_AT_ONCE):
        chunk = wanted[start:start + ANNOTATED_AT_ONCE]
        found = client.get(settings.annotations_url.rstrip("/") + "/annotationsByArticleIds",
                           {"articleIds": ",".join(w.epmc_id for w in chunk), "type": "Accession Numbers", "format": "JSON"},
                           parse=parse_annotations)
        for article in found:
            if isinstance(article, dict) and article.get("source") and article.get("extId"):
                by_id[f"{article['source']}:{article['extId']}"] = mentions_of(article)
    return [replace(w, mentions=by_id[w.epmc_id]) if by_id.get(w.epmc_id) else w for w in works]


# -- parsing -------------------------------------------------------------------------------------------

def _types(read: CleanFields, result: dict[str, Any]) -> tuple[str, ...]:
    core = read.strings(read.obj(result.get("pubTypeList"), "pubTypeList").get("pubType"), "pubTypeList.pubType")
    given = core or (read.text(result.get("pubType"), "pubType") or "").split(";")
    return tuple(dict.fromkeys(t for t in (text(x) for x in given) if t))


def _authors(read: CleanFields, result: dict[str, Any]) -> tuple[str, ...]:
    authors = read.items(read.obj(result.get("authorList"), "authorList").get("author"), "authorList.author")
    names = [read.text(a.get("fullName") or a.get("collectiveName"), "author.fullName") for a in authors if isinstance(a, dict)]
    if not any(names):
        names = [text(n) for n in (read.text(result.get("authorString"), "authorString") or "").rstrip(".").split(", ")]
    return tuple(n for n in names if n)


def parse_result(result: dict[str, Any]) -> Work:
    """One /search result (lite or core) as a Work. Every field is read in its documented form or said (fields.py);
    the payload keeps what came."""
    source, ext_id = str(result["source"]), str(result["id"])
    epmc_id = f"{source}:{ext_id}"
    read = CleanFields(epmc_id)
    journal = read.obj(result.get("journalInfo"), "journalInfo")
    journal_meta = read.obj(journal.get("journal"), "journalInfo.journal")
    types = _types(read, result)
    preprint = source == "PPR" or any(t.lower() == "preprint" for t in types)
    published_as = published_in = earlier = None
    for c in read.items(read.obj(result.get("commentCorrectionList"), "commentCorrectionList").get("commentCorrection"), "commentCorrection"):
        kind = str(c.get("type") or "").lower() if isinstance(c, dict) else ""
        if kind == "preprint of" and c.get("id"):
            published_as, published_in = f"{c.get('source') or 'MED'}:{c['id']}", text(c.get("reference"))
        elif "preprint" in kind and c.get("id") and str(c.get("source")) == "PPR":
            earlier = f"PPR:{c['id']}"
    pmid = read.text(result.get("pmid"), "pmid") or (ext_id if source == "MED" else None)
    pmcid = read.text(result.get("pmcid"), "pmcid") or (ext_id if source == "PMC" else None)
    given_doi = read.text(result.get("doi"), "doi")
    doi = normalise("doi", given_doi) if given_doi else None
    year = read.whole(result.get("pubYear"), "pubYear")  # written as text ("2020")
    identifiers: dict[tuple[str, str], str] = {}
    own = OWN_SCHEME.get(source)
    if own and normalise(own, ext_id):
        identifiers[(own, normalise(own, ext_id))] = "own"
    for scheme, value in (("pmid", pmid), ("pmcid", pmcid), ("doi", doi)):
        if value and normalise(scheme, value):
            identifiers.setdefault((scheme, normalise(scheme, value)), "article_id")
    if published_as and published_as.startswith("MED:"):
        identifiers.setdefault(("pmid", published_as[4:]), "preprint_of")  # the journal version: one work with it
    if earlier:
        identifiers.setdefault(("ppr", earlier[4:]), "has_preprint")
    mined = tuple(t.lower() for t in read.strings(read.obj(result.get("tmAccessionTypeList"), "tmAccessionTypeList").get("accessionType"), "accessionType"))
    details = read.obj(result.get("bookOrReportDetails"), "bookOrReportDetails")
    return built(
        Work,
        epmc_id=epmc_id,
        source_db=source,
        pmid=pmid,
        pmcid=pmcid,
        doi=doi,
        title=read.text(result.get("title"), "title"),
        abstract=read.text(result.get("abstractText"), "abstractText"),
        authors=_authors(read, result),
        journal=read.text(journal_meta.get("title"), "journal.title") or read.text(result.get("journalTitle"), "journalTitle"),
        journal_abbrev=read.text(journal_meta.get("isoabbreviation") or journal_meta.get("medlineAbbreviation"), "journal.isoabbreviation")
        or read.text(result.get("journalTitle"), "journalTitle"),
        volume=read.text(journal.get("volume") or result.get("journalVolume"), "journalVolume"),
        issue=read.text(journal.get("issue") or result.get("issue"), "issue"),
        pages=read.text(result.get("pageInfo"), "pageInfo"),
        pub_date=read.text(journal.get("dateOfPublication"), "dateOfPublication") or (str(year) if year else None),
        sort_date=read.iso_date(result.get("firstPublicationDate"), "firstPublicationDate"),
        index_date=read.iso_date(result.get("firstIndexDate"), "firstIndexDate"),
        pub_year=year,
        publication_types=types,
        is_preprint=preprint,
        preprint_server=read.text(details.get("publisher"), "bookOrReportDetails.publisher") if preprint else None,
        version=read.text(result.get("versionNumber")),  # a number in some answers, text in others: either is the version
        published_as=published_as,
        published_in=published_in,
        preprint=earlier,
        is_retracted=any(t.lower() == "retracted publication" for t in types),
        mined_types=mined,
        url=ARTICLE_URL.format(source, ext_id),
        identifiers=tuple((scheme, value, via) for (scheme, value), via in identifiers.items()),
        raw_json=json.dumps(result, ensure_ascii=False, sort_keys=True),
    )


HEADING_RE = re.compile(r"<h4>(.*?)</h4>", re.IGNORECASE | re.DOTALL)
TAG_RE = re.compile(r"<[^>]+>")


def conclusions_of(raw_json: str | None) -> str | None:
    """A stored record's conclusions, as its structured abstract states them (Europe PMC writes a section's heading
    as <h4>Conclusions</h4>); None for an unstructured abstract."""
    try:
        abstract = json.loads(raw_json or "{}").get("abstractText")
    except (ValueError, AttributeError):
        return None
    if not isinstance(abstract, str) or "<h4>" not in abstract.lower():
        return None
    parts = HEADING_RE.split(abstract)  # [before, heading, body, heading, body ...]
    chosen = [body for heading, body in zip(parts[1::2], parts[2::2]) if CONCLUSIONS_RE.match(TAG_RE.sub("", heading))]
    said = " ".join(t for t in (text(TAG_RE.sub(" ", body)) for body in chosen) if t)
    return said or None


# -- citations -----------------------------------------------------------------------------------------

CITATIONS_PAGE = 1000


def parse_citations(body: bytes) -> dict[str, Any]:
    page = json_answer(body, dict, "a Europe PMC citations answer that is not an object")
    if "hitCount" not in page:
        raise RetryableBody("a Europe PMC citations answer without its hitCount")
    return page


def fetch_citers(client: HttpClient, settings: Any, pmids: list[str]) -> dict[str, list[str]]:
    """anchor PMID -> the Europe PMC records citing it (MED:..., PPR:... for preprints), every page walked: the list is
    ordered by citation count, not date, so what is new is found by difference with what is stored."""
    found: dict[str, list[str]] = {}
    for pmid in pmids:
        citers: list[str] = []
        page = 1
        while True:
            answer = client.get(settings.europepmc_url.rstrip("/") + f"/MED/{pmid}/citations",
                                {"format": "json", "page": str(page), "pageSize": str(CITATIONS_PAGE)}, parse=parse_citations)
            citing = [c for c in listed(dig(answer, "citationList", "citation")) if isinstance(c, dict) and c.get("id") and c.get("source")]
            citers.extend(f"{c['source']}:{c['id']}" for c in citing if f"{c['source']}:{c['id']}" not in citers)
            hits = answer["hitCount"] if isinstance(answer["hitCount"], int) else 0
            if not citing or page * CITATIONS_PAGE >= hits:
                break
            page += 1
        found[pmid] = citers
    return found


def fetch_ids(client: HttpClient, settings: Any, ids: list[str]) -> list[Work]:
    """Records by their Europe PMC ids (SOURCE:ID), REVISITED_AT_ONCE per search, with their full-text mentions."""
    works: list[Work] = []
    for start in range(0, len(ids), REVISITED_AT_ONCE):
        chunk = [i.split(":", 1) for i in ids[start:start + REVISITED_AT_ONCE] if ":" in i]
        q = " OR ".join(f"(EXT_ID:{ext} AND SRC:{source})" for source, ext in chunk)
        for results, _ in fetch_pages(client, settings.europepmc_url, q, page_size=len(chunk)):
            works.extend(parse_result(r) for r in results)
    return with_mentions(client, settings, works)
