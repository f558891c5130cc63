"""`tracker export`: trials as CSV or JSON; publications as CSV, JSON, RIS or BibTeX. Pure renderers over rows."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any, Iterable, Iterator

from .reports import spreadsheet_safe
from .store import JSON_COLUMNS

FORMATS = {"trial": ("csv", "json"), "publication": ("csv", "json", "ris", "bibtex")}  # by the kind of record a table keeps


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (json.loads(v) if k in JSON_COLUMNS and isinstance(v, str) and v else v) for k, v in row.items()}


def render_json(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """A JSON array, written record by record."""
    yield "["
    for i, row in enumerate(rows):
        yield ("," if i else "") + "\n  " + json.dumps(_decoded(row), ensure_ascii=False)
    yield "\n]\n"


def render_csv(rows: Iterable[dict[str, Any]], *, keep_formulas: bool = False) -> Iterator[str]:
    """CSV with a header; list columns are joined with '; '; a cell a spreadsheet would run as a formula is written
    with a leading ' unless keep_formulas."""
    buffer = io.StringIO()
    writer = None
    for row in rows:
        flat = {}
        for key, value in _decoded(row).items():
            if isinstance(value, list):
                value = "; ".join(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in value)
            flat[key] = value if keep_formulas else spreadsheet_safe(value)
        if writer is None:
            writer = csv.DictWriter(buffer, fieldnames=list(flat), lineterminator="\n")
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


def _page(p: dict[str, Any]) -> str:
    """The record's page: its own (Europe PMC's) where it keeps one, else PubMed's."""
    return p.get("url") or f"https://pubmed.ncbi.nlm.nih.gov/{p['pmid']}/"


def _ris_line(tag: str, value: Any) -> str:
    return f"{tag}  - {' '.join(str(value).split())}\n"


def render_ris(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """RIS for reference managers (Zotero, EndNote, Mendeley): one TY..ER block per publication."""
    for row in rows:
        p = _decoded(row)
        # a preprint is an unpublished work to reference managers (RIS has no preprint type; UNPB is what they read)
        out = [_ris_line("TY", "UNPB" if p.get("is_preprint") else "BOOK" if p.get("is_book") else "JOUR")]
        out.append(_ris_line("TI", p.get("title") or ""))
        out.extend(_ris_line("AU", a) for a in p.get("authors") or [])
        if p.get("journal"):
            out.append(_ris_line("T2", p["journal"]))
        if p.get("journal_abbrev"):
            out.append(_ris_line("J2", p["journal_abbrev"]))
        if p.get("sort_date"):
            out.append(_ris_line("PY", p["sort_date"][:4]))
            out.append(_ris_line("DA", p["sort_date"].replace("-", "/")))
        for tag, key in (("VL", "volume"), ("IS", "issue"), ("DO", "doi"), ("LA", "language"), ("AB", "abstract")):
            if p.get(key):
                out.append(_ris_line(tag, p[key]))
        start, end = _pages(p.get("pages"))
        if start:
            out.append(_ris_line("SP", start))
        if end:
            out.append(_ris_line("EP", end))
        out.extend(_ris_line("KW", k) for k in dict.fromkeys([*(p.get("mesh_terms") or []), *(p.get("keywords") or [])]))
        out.append(_ris_line("AN", f"PMID:{p['pmid']}" if p.get("pmid") else p.get("epmc_id")))
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
        fields = [("title", "{" + bib_escape(p.get("title") or "") + "}")]
        if p.get("authors"):
            fields.append(("author", " and ".join(_bib_author(a) for a in p["authors"])))
        if p.get("journal"):
            fields.append(("journal", bib_escape(p["journal"])))
        if p.get("sort_date"):
            fields.append(("year", p["sort_date"][:4]))
        for key, column in (("volume", "volume"), ("number", "issue")):
            if p.get(column):
                fields.append((key, bib_escape(p[column])))
        if p.get("pages"):
            fields.append(("pages", bib_escape(p["pages"]).replace("-", "--")))
        if p.get("doi"):
            fields.append(("doi", bib_escape(p["doi"])))
        if p.get("abstract"):
            fields.append(("abstract", bib_escape(p["abstract"])))
        keywords = list(dict.fromkeys([*(p.get("mesh_terms") or []), *(p.get("keywords") or [])]))
        if keywords:
            fields.append(("keywords", bib_escape(", ".join(keywords))))
        if p.get("pmid"):
            fields.append(("pmid", p["pmid"]))
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


RENDERERS = {"csv": render_csv, "json": render_json, "ris": render_ris, "bibtex": render_bibtex}
