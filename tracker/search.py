"""Ad hoc search: FTS5 over the local database (user text quoted safely, or --raw FTS syntax), and --live
questions put to ClinicalTrials.gov and PubMed without storing anything. Also `show` for one record."""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from .errors import TrackerError
from .http import HttpClient
from .settings import Settings
from .sources import ctgov, pubmed
from .store import (
    RecordFilter,
    Store,
    decoded,
    publication_row,
    select_changes,
    select_links,
    select_matches,
    select_pmid_by_doi,
    select_publication,
    select_record_signals,
    select_listing,
    select_search,
    select_trial,
    trial_row,
)

MAX_TEXT = 1000
TOKEN_RE = re.compile(r"\w+", re.UNICODE)
NCT_ID = re.compile(r"^NCT\d{8}$", re.IGNORECASE)
DOI_RE = re.compile(r"^(?:doi:|https?://(?:dx\.)?doi\.org/)?(10\.\d{4,9}/\S+)$", re.IGNORECASE)


def fts_query(text: str) -> str:
    """User text -> an FTS5 expression that cannot be a syntax error: every word a quoted token, all required."""
    if len(text) > MAX_TEXT:
        raise TrackerError(f"search text is {len(text):,} characters; the limit is {MAX_TEXT:,}")
    tokens = TOKEN_RE.findall(text)
    if not tokens:
        raise TrackerError("nothing to search for: give at least one word or number")
    return " ".join(f'"{t}"' for t in tokens)


@dataclass
class Hit:
    kind: str  # trial | publication
    id: str
    title: str
    date: str | None
    detail: str
    snippet: str
    url: str
    rank: float
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "title": self.title,
            "date": self.date,
            "detail": self.detail,
            "snippet": self.snippet,
            "url": self.url,
            **self.extra,
        }


def _trial_hit(row: dict[str, Any]) -> Hit:
    phases = ", ".join(json.loads(row["phases"] or "[]")) or "no phase"
    # a copy the registry sweep found gone, or merged into another number, says so, as a retracted paper does
    gone = " · REMOVED from the registry" if row.get("removed_at") else f" · MERGED into {row['merged_into']}" if row.get("merged_into") else ""
    return Hit(
        kind="trial",
        id=row["nct_id"],
        title=row["title"] or "",
        date=row["start_date"],
        detail=f"{row['overall_status'] or 'no status'} · {phases}{' · results' if row['has_results'] else ''}{gone}",
        snippet=row.get("snippet") or "",  # plain text: the index reads list columns as "a; b" (m007)
        url=f"https://clinicaltrials.gov/study/{row['nct_id']}",
        rank=row.get("rank") or 0.0,
        extra={"status": row["overall_status"], "phases": json.loads(row["phases"] or "[]"), "has_results": bool(row["has_results"]), "sponsor": row["lead_sponsor"],
               "removed": bool(row.get("removed_at")), "merged_into": row.get("merged_into")},
    )


def _publication_hit(row: dict[str, Any]) -> Hit:
    return Hit(
        kind="publication",
        id=row["pmid"],
        title=row["title"] or "",
        date=row["sort_date"],
        detail=f"{row['journal_abbrev'] or row['journal'] or ''} {row['pub_date'] or ''}".strip() + (" · RETRACTED" if row["is_retracted"] else ""),
        snippet=row.get("snippet") or "",  # plain text: the index reads list columns as "a; b" (m007)
        url=f"https://pubmed.ncbi.nlm.nih.gov/{row['pmid']}/",
        rank=row.get("rank") or 0.0,
        extra={"doi": row["doi"], "authors": json.loads(row["authors"] or "[]"), "is_retracted": bool(row["is_retracted"])},
    )


@dataclass
class LocalResult:
    hits: list[Hit]
    windowed: list[tuple[str, int]]  # (table, window): more than `window` records matched and the newest were ranked


def searched_tables(source: str, f: RecordFilter) -> list[str]:
    """The tables a search reads: --source, narrowed to trials by a trial-only filter (status, phase, results)."""
    if f.trials_only or source == "trials":
        return ["trials"]
    return ["publications"] if source == "publications" else ["trials", "publications"]


def search_local(store: Store, text: str | None, *, source: str = "all", f: RecordFilter = RecordFilter(), limit: int = 20, raw: bool = False) -> LocalResult:
    """Trials and publications matching the text, best first (bm25); filters narrow as in export. Without a text,
    the records the filters select, newest first (`tracker search --line NAME` lists a topic line)."""
    kinds = searched_tables(source, f)
    if text is None and not raw:
        hits = [_trial_hit(r) if kind == "trials" else _publication_hit(r)
                for kind in kinds for r in select_listing(store, kind=kind, f=f, limit=limit)]
        hits.sort(key=lambda h: h.rank)
        return LocalResult(hits=hits[:limit], windowed=[])
    text = text or ""
    if raw:
        if not text.strip():
            raise TrackerError("nothing to search for: give an FTS5 expression")
        if len(text) > MAX_TEXT:
            raise TrackerError(f"search text is {len(text):,} characters; the limit is {MAX_TEXT:,}")
        match = text
    else:
        match = fts_query(text)
    hits: list[Hit] = []
    windowed = []
    try:
        for kind in kinds:
            rows, window = select_search(store, match, kind=kind, f=f, limit=limit)
            if window:
                windowed.append((kind, window))
            hits.extend(_trial_hit(r) if kind == "trials" else _publication_hit(r) for r in rows)
    except sqlite3.OperationalError as exc:
        if raw and "locked" not in str(exc):  # the SQL is fixed; only the user's expression can be at fault
            raise TrackerError(f"not a valid FTS5 expression: {exc}") from None
        raise
    hits.sort(key=lambda h: h.rank)
    return LocalResult(hits=hits[:limit], windowed=windowed)


@dataclass
class LiveResult:
    source: str
    total: int
    hits: list[Hit]


def search_live(client: HttpClient, settings: Settings, text: str, *, source: str = "all", limit: int = 10) -> list[LiveResult]:
    """The same question put to the APIs directly (query.term / term): total counts and the first page, not stored."""
    if not text.strip():
        raise TrackerError("nothing to search for")
    if len(text) > MAX_TEXT:
        raise TrackerError(f"search text is {len(text):,} characters; the limit is {MAX_TEXT:,}")
    results = []
    if source in ("all", "trials"):
        page = client.get(
            settings.ctgov_url.rstrip("/") + "/studies",
            {"query.term": text, "pageSize": str(limit), "countTotal": "true", "format": "json"},
            parse=ctgov.parse_json_page,
        )
        trials = ctgov.parse_page(ctgov.Page(studies=page["studies"], total_count=page.get("totalCount"), next_page_token=None, raw=page["_raw"]))
        hits = [_trial_hit(trial_row(t)) for t in trials]
        results.append(LiveResult(source="ClinicalTrials.gov", total=int(page.get("totalCount") or len(hits)), hits=hits))
    if source in ("all", "publications"):
        found = pubmed.esearch(client, settings, text, retmax=limit, label="live search")
        pubs = pubmed.efetch_ids(client, settings, found.ids) if found.ids else []
        order = {pmid: i for i, pmid in enumerate(found.ids)}
        pubs.sort(key=lambda p: order.get(p.pmid, len(order)))
        hits = [_publication_hit(publication_row(p)) for p in pubs]
        results.append(LiveResult(source="PubMed", total=found.count, hits=hits))
    return results


# -- show ------------------------------------------------------------------------------------------

def classify_id(identifier: str) -> tuple[str, str]:
    """('trial', NCT...) | ('publication', PMID) | ('doi', 10....); TrackerError for anything else."""
    value = identifier.strip()
    if NCT_ID.match(value):
        return "trial", value.upper()
    if value.isdigit() and 1 <= len(value) <= 9:
        return "publication", value
    if value.lower().startswith("pmid:") and value[5:].strip().isdigit():
        return "publication", value[5:].strip()
    match = DOI_RE.match(value)
    if match:
        return "doi", match.group(1)
    shown = value if len(value) <= 60 else value[:57] + "..."
    raise TrackerError(f"{shown!r} is not an NCT number (NCT12345678), a PMID (digits) or a DOI (10.xxxx/...)")


def show_record(store: Store, identifier: str) -> dict[str, Any]:
    kind, value = classify_id(identifier)
    if kind == "doi":
        pmid = select_pmid_by_doi(store, value)
        if pmid is None:
            raise TrackerError(f"no stored publication has DOI {value}; try `tracker search --live {value}`")
        kind, value = "publication", pmid
    if kind == "trial":
        record = select_trial(store, value)
        if record is None:
            raise TrackerError(f"{value} is not in the database; try `tracker search --live {value}` or add it to a topic line")
        links = select_links(store, nct_id=value)
        table = "trials"
    else:
        record = select_publication(store, value)
        if record is None:
            raise TrackerError(f"PMID {value} is not in the database; try `tracker search --live {value}`")
        links = select_links(store, pmid=value)
        table = "publications"
    return {"kind": kind, "id": value, "record": decoded(record), "changes": select_changes(store, table, value),
            "links": links, "lines": select_matches(store, table, value), "signals": select_record_signals(store, value)}
