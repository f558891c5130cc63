"""`tracker export`: trials as CSV, JSON, CSL-JSON or RIS (a registry record, citable); publications as CSV, JSON,
CSL-JSON, RIS or BibTeX. Dates only as precise as the source gives them, page ranges whole. Pure renderers over rows."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any, Iterable, Iterator

from .labels import MONTH_NAMES
from .reports import spreadsheet_safe
from .store import JSON_COLUMNS

FORMATS = {"trial": ("csv", "json", "csljson", "ris"), "publication": ("csv", "json", "csljson", "ris", "bibtex")}  # by the kind of record a table keeps
MONTHS = {m.lower(): i for i, m in enumerate(MONTH_NAMES, 1)}
PRINTED_DATE_RE = re.compile(r"^(\d{4})(?:\s+([A-Za-z]{3})[a-z]*\.?(?:\s+(\d{1,2}))?)?$")  # PubMed's "2024 Mar 15", "2024 Mar", "2024"


def date_parts(p: dict[str, Any]) -> list[int]:
    """[year], [year, month] or [year, month, day]: only as precise as the source. PubMed's sort date is made up to
    the day from what it printed ("1987" sorts as 1987-01-01), so its printed date says the precision; a record
    without one (Europe PMC, a registry) has its date as given."""
    printed = (p.get("pub_date") or "").strip()
    if printed:
        found = PRINTED_DATE_RE.match(printed)
        if found:
            year, month, day = found.groups()
            parts = [int(year)]
            if month and month.lower() in MONTHS:
                parts.append(MONTHS[month.lower()])
                if day:
                    parts.append(int(day))
            return parts
        year = re.search(r"\b(1[6-9]\d\d|20\d\d)\b", printed)  # "1998 Dec-1999 Jan", "2024 Winter-Spring": its first year
        return [int(year.group(1))] if year else []
    given = p.get("sort_date") or p.get("first_posted_date") or ""
    return [int(x) for x in given.split("-") if x.isdigit()][:3]


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (json.loads(v) if k in JSON_COLUMNS and isinstance(v, str) and v else v) for k, v in row.items()}


def _json_array(items: Iterable[Any]) -> Iterator[str]:
    """A JSON array, written item by item."""
    yield "["
    for i, item in enumerate(items):
        yield ("," if i else "") + "\n  " + json.dumps(item, ensure_ascii=False)
    yield "\n]\n"


def render_json(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    return _json_array(_decoded(row) for row in rows)


def render_csv(rows: Iterable[dict[str, Any]], *, keep_formulas: bool = False, excel: bool = False) -> Iterator[str]:
    """CSV with a header; list columns are joined with '; '; a cell a spreadsheet would run as a formula is written
    with a leading ' unless keep_formulas. excel: a UTF-8 byte-order mark and CRLF line ends, so Excel reads
    "Hôpitaux" as it is written rather than as Windows-1252."""
    buffer = io.StringIO()
    if excel:
        buffer.write("\ufeff")
    writer = None
    for row in rows:
        flat = {}
        if "url" not in row and row.get("pmid"):  # a paper's page, as for a trial: a spreadsheet's reader clicks through
            row = {**row, "url": _page(row)}
        for key, value in _decoded(row).items():
            if isinstance(value, list):
                value = "; ".join(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in value)
            flat[key] = value if keep_formulas else spreadsheet_safe(value)
        if writer is None:
            writer = csv.DictWriter(buffer, fieldnames=list(flat), lineterminator="\r\n" if excel else "\n")
            writer.writeheader()
        writer.writerow(flat)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _pages(pages: str | None) -> tuple[str | None, str | None]:
    if not pages:
        return None, None
    first, _, last = pages.partition("-")
    if last and len(last) < len(first) and last.isdigit() and first.isdigit():
        last = first[: len(first) - len(last)] + last  # 1865-76 -> 1865-1876
    return first or None, last or None


PREPRINT_NOTE = "Preprint, not peer reviewed"


SMALL_WORDS = frozenset("a an and as at but by for from in into nor of on or the to with via vs".split())


def journal_title(title: str | None) -> str | None:
    """NLM catalogues a journal in sentence case ("The New England journal of medicine"); a citation prints it in
    title case, as Zotero does on import. A word with a capital or a digit already in it (eLife, JAMA, BMJ, 3D)
    is kept as it is; small words stay lower case but the first."""
    if not title:
        return title
    words = " ".join(title.split()).split(" ")
    return " ".join(w if (i and w.lower() in SMALL_WORDS) or any(c.isupper() or c.isdigit() for c in w) or not w[:1].isalpha()
                    else w[:1].upper() + w[1:] for i, w in enumerate(words))


def citation_title(title: str | None) -> str:
    """An article title as a citation prints it: PubMed ends every title with a period and every style adds its
    own, so one trailing period goes (not an ellipsis, not "?" or "!")."""
    title = " ".join((title or "").split())
    return title[:-1] if title.endswith(".") and not title.endswith("..") else title


def identifier_lines(p: dict[str, Any]) -> list[str]:
    """PMID and PMCID as Zotero's Extra field keeps and exports them ("PMID: 123"), which its CSL-JSON then carries."""
    return [f"{label}: {p[key]}" for label, key in (("PMID", "pmid"), ("PMCID", "pmcid")) if p.get(key)]


def keyword_list(p: dict[str, Any]) -> list[str]:
    """MeSH headings then author keywords, each once."""
    return list(dict.fromkeys([*(p.get("mesh_terms") or []), *(p.get("keywords") or [])]))


def _page(p: dict[str, Any]) -> str:
    """The record's page: its own (Europe PMC's) where it keeps one, else PubMed's."""
    return p.get("url") or f"https://pubmed.ncbi.nlm.nih.gov/{p['pmid']}/"


def _ris_line(tag: str, value: Any) -> str:
    return f"{tag}  - {' '.join(str(value).split())}\n"


def _ris_date(parts: list[int]) -> list[str]:
    """PY and DA as precise as the date: DA 1987, 1987/03 or 1987/03/15."""
    if not parts:
        return []
    return [_ris_line("PY", parts[0]), _ris_line("DA", "/".join(f"{n:02d}" if i else str(n) for i, n in enumerate(parts)))]


def _registration(t: dict[str, Any]) -> tuple[str, str, str | None]:
    """A trial row's number, registry and status note, as both citation formats give them."""
    number = t.get("nct_id") or t.get("trial_id")
    status = f"Status: {t['overall_status'].replace('_', ' ').lower()}" if t.get("overall_status") else None
    return number, t.get("registry") or "ClinicalTrials.gov", status


def render_ris(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """RIS for reference managers (Zotero, EndNote, Mendeley): one TY..ER block per publication."""
    for row in rows:
        p = _decoded(row)
        # a preprint is an unpublished work to reference managers (RIS has no preprint type; UNPB is what they read)
        out = [_ris_line("TY", "UNPB" if p.get("is_preprint") else "BOOK" if p.get("is_book") else "JOUR")]
        out.append(_ris_line("TI", citation_title(p.get("title"))))
        out.extend(_ris_line("AU", a) for a in p.get("authors") or [])
        if p.get("journal"):
            out.append(_ris_line("T2", journal_title(p["journal"])))
        if p.get("journal_abbrev"):
            out.append(_ris_line("J2", p["journal_abbrev"]))
        out.extend(_ris_date(date_parts(p)))
        for tag, key in (("VL", "volume"), ("IS", "issue"), ("DO", "doi"), ("LA", "language"), ("AB", "abstract")):
            if p.get(key):
                out.append(_ris_line(tag, p[key]))
        start, end = _pages(p.get("pages"))
        if start:
            out.append(_ris_line("SP", start))
        if end:
            out.append(_ris_line("EP", end))
        out.extend(_ris_line("KW", k) for k in keyword_list(p))  # one KW line each: RIS's list form
        # M2 is what Zotero reads into Extra, where "PMID: 123" is its own place for the id (AN would land in
        # "Loc. in Archive"); a record with neither id (a preprint) keeps its Europe PMC id as its accession number
        out.extend(_ris_line("M2", line) for line in identifier_lines(p))
        if not p.get("pmid") and p.get("epmc_id"):
            out.append(_ris_line("AN", p["epmc_id"]))
        out.append(_ris_line("UR", _page(p)))
        if p.get("is_preprint"):
            out.append(_ris_line("PB", p.get("preprint_server") or "preprint server not given"))
            out.append(_ris_line("N1", PREPRINT_NOTE))
        if p.get("is_retracted"):
            out.append(_ris_line("N1", "RETRACTED publication"))
        out.append("ER  - \n\n")
        yield "".join(out)


BIB_SPECIAL = re.compile(r"([\\{}%&$#_^~])")


def bib_escape(text: Any) -> str:
    def repl(m: re.Match) -> str:
        c = m.group(1)
        # braces as commands: BibTeX counts every { and } (a backslash does not hide one), so "\{" could unbalance an entry
        return {"\\": r"\textbackslash{}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                "{": r"\textbraceleft{}", "}": r"\textbraceright{}"}.get(c, "\\" + c)

    return BIB_SPECIAL.sub(repl, " ".join(str(text).split()))


def _bib_author(name: str) -> str:
    """'Doe JA' -> 'Doe, J. A.'; a collective name is braced so BibTeX keeps it whole."""
    parts = name.rsplit(" ", 1)
    if len(parts) == 2 and parts[1].isupper() and parts[1].isalpha() and len(parts[1]) <= 4:
        return f"{bib_escape(parts[0])}, {' '.join(c + '.' for c in parts[1])}"
    return "{" + bib_escape(name) + "}"


def render_bibtex(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        p = _decoded(row)
        fields = [("title", "{" + bib_escape(citation_title(p.get("title"))) + "}")]
        if p.get("authors"):
            fields.append(("author", " and ".join(_bib_author(a) for a in p["authors"])))
        if p.get("journal"):
            fields.append(("journal", bib_escape(journal_title(p["journal"]))))
        if p.get("journal_abbrev"):
            fields.append(("shortjournal", bib_escape(p["journal_abbrev"])))  # biblatex's field; Zotero reads it
        parts = date_parts(p)
        if parts:
            fields.append(("year", str(parts[0])))
        if len(parts) > 1:
            fields.append(("month", MONTH_NAMES[parts[1] - 1].lower()))  # BibTeX's month macros: jan, feb ...
        for key, column in (("volume", "volume"), ("number", "issue")):
            if p.get(column):
                fields.append((key, bib_escape(p[column])))
        start, end = _pages(p.get("pages"))
        if start:
            fields.append(("pages", bib_escape(f"{start}--{end}" if end else start)))  # 217-64 in MEDLINE is 217--264
        if p.get("doi"):
            fields.append(("doi", bib_escape(p["doi"])))
        if p.get("abstract"):
            fields.append(("abstract", bib_escape(p["abstract"])))
        keywords = keyword_list(p)
        if keywords:  # biblatex's comma-separated list, where an item with a comma in it ("Receptors, Androgen") is braced
            fields.append(("keywords", ", ".join("{" + bib_escape(k) + "}" if "," in k else bib_escape(k) for k in keywords)))
        for key in ("pmid", "pmcid"):  # the fields Zotero and biblatex's pubmed handling read
            if p.get(key):
                fields.append((key, bib_escape(p[key])))
        fields.append(("url", _page(p)))
        notes = ([PREPRINT_NOTE] if p.get("is_preprint") else []) + (["RETRACTED publication"] if p.get("is_retracted") else [])
        if p.get("is_preprint"):
            fields.append(("howpublished", bib_escape(p.get("preprint_server") or "preprint")))
        if notes:
            fields.append(("note", bib_escape(". ".join(notes))))
        body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields)
        entry = "misc" if p.get("is_preprint") else "book" if p.get("is_book") else "article"  # BibTeX has no preprint type
        key = f"pmid{p['pmid']}" if p.get("pmid") else re.sub(r"[^A-Za-z0-9]", "", p.get("epmc_id") or "record")
        yield f"@{entry}{{{key},\n{body}\n}}\n\n"


def _csl_names(authors: list[str]) -> list[dict[str, str]]:
    """'Doe JA' -> {family: Doe, given: J. A.}; a collective name as a literal."""
    names = []
    for name in authors:
        family, _, initials = name.rpartition(" ")
        if family and initials.isupper() and initials.isalpha() and len(initials) <= 4:
            names.append({"family": family, "given": " ".join(c + "." for c in initials)})
        else:
            names.append({"literal": name})
    return names


def csl_item(p: dict[str, Any]) -> dict[str, Any]:
    """One record as CSL-JSON (what Zotero, Pandoc, Mendeley and citeproc read): a paper as article-journal (a
    preprint as article, genre preprint, its server the publisher), a trial as a registry's webpage entry with the
    sponsor as its author and its registration number."""
    if "nct_id" in p or "trial_id" in p:
        number, registry, status = _registration(p)
        item = {"id": number, "type": "webpage", "title": p.get("title") or number, "container-title": registry,
                "number": number, "URL": p.get("url"), "genre": "clinical trial registration", "note": status}
        if p.get("lead_sponsor"):
            item["author"] = [{"literal": p["lead_sponsor"]}]
        if parts := date_parts(p):
            item["issued"] = {"date-parts": [parts]}
        return {k: v for k, v in item.items() if v}
    item: dict[str, Any] = {"id": f"pmid:{p['pmid']}" if p.get("pmid") else p.get("epmc_id") or p.get("doi"),
                            "type": "article" if p.get("is_preprint") else "chapter" if p.get("is_book") else "article-journal",
                            "title": citation_title(p.get("title")), "author": _csl_names(p.get("authors") or []),
                            "container-title": journal_title(p.get("journal")), "container-title-short": p.get("journal_abbrev"),
                            "volume": p.get("volume"), "issue": p.get("issue"), "DOI": p.get("doi"), "PMID": p.get("pmid"),
                            "PMCID": p.get("pmcid"), "URL": _page(p), "abstract": p.get("abstract"), "language": p.get("language")}
    if keywords := keyword_list(p):
        item["keyword"] = ", ".join(keywords)  # CSL's keyword is one string
    parts = date_parts(p)
    if parts:
        item["issued"] = {"date-parts": [parts]}
    start, end = _pages(p.get("pages"))
    if start:
        item["page"] = f"{start}-{end}" if end else start
    if p.get("is_preprint"):
        item.update(genre="preprint", publisher=p.get("preprint_server"), note=PREPRINT_NOTE)
    if p.get("is_retracted"):
        item["note"] = "RETRACTED publication"
    return {k: v for k, v in item.items() if v}


def render_csljson(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    return _json_array(csl_item(_decoded(row)) for row in rows)


def render_trial_ris(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """A registry record for reference managers: RIS type ELEC (a web page), the sponsor as author, the registry as
    the database, the registration number as its accession number."""
    for row in rows:
        t = _decoded(row)
        number, registry, status = _registration(t)
        out = [_ris_line("TY", "ELEC"), _ris_line("TI", t.get("title") or number)]
        if t.get("lead_sponsor"):
            out.append(_ris_line("AU", t["lead_sponsor"]))
        out.extend(_ris_date(date_parts(t)))
        out.append(_ris_line("DB", registry))
        out.append(_ris_line("AN", number))
        if t.get("url"):
            out.append(_ris_line("UR", t["url"]))
        if status:
            out.append(_ris_line("N1", status))
        out.append("ER  - \n\n")
        yield "".join(out)


RENDERERS = {"csv": render_csv, "json": render_json, "csljson": render_csljson, "ris": render_ris, "bibtex": render_bibtex}
TRIAL_RENDERERS = {**RENDERERS, "ris": render_trial_ris}
