"""Ad hoc search: FTS5 over the local database (user text quoted safely, or --raw FTS syntax), and --live
questions put to ClinicalTrials.gov and PubMed without storing anything. Also `show` for one record."""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from .briefing import shown_paper, shown_trial
from .errors import TrackerError
from .http import HttpClient
from .identifiers import label_for, recognise, url_for
from .labels import phase_label, status_label
from .settings import Settings
from .sources import SOURCES, TABLES
from .store import (
    Narrowed,
    RecordFilter,
    Store,
    decoded,
    search_window,
    select_changes,
    select_cited_by,
    select_identified,
    select_identifiers,
    select_links,
    select_listing,
    select_matches,
    select_ranked_rows,
    select_ranking,
    select_record,
    select_record_signals,
)
from .studies import group_trials, group_works

MAX_TEXT = 1000
FOLD_MARGIN = 5  # hits read beyond the limit, for registrations of one study folded into one
TOKEN_RE = re.compile(r"\w+", re.UNICODE)


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


def _trial_hit(row: dict[str, Any], source: str) -> Hit:
    phases = phase_label(row["phases"]) if json.loads(row["phases"] or "[]") else "phase not given"
    # a copy the registry sweep found gone, or merged into another number, says so, as a retracted paper does
    gone = " · REMOVED from the registry" if row.get("removed_at") else f" · MERGED into {row['merged_into']}" if row.get("merged_into") else ""
    return Hit(
        kind="trial",
        id=row.get("record_id") or row[SOURCES[source].shape.key],
        title=row["title"] or "",
        date=row["start_date"],
        detail=f"{status_label(row['overall_status'])} · {phases}{' · results posted' if row['has_results'] else ''}{gone}",  # as a person reads them; JSON keeps the codes
        snippet=row.get("snippet") or "",  # plain text: the index reads list columns as "a; b" (m007)
        url=SOURCES[source].url(row.get("record_id") or row[SOURCES[source].shape.key]),
        rank=row.get("rank") or 0.0,
        extra={"source": source, "status": row["overall_status"], "phases": json.loads(row["phases"] or "[]"), "has_results": bool(row["has_results"]), "sponsor": row["lead_sponsor"],
               "removed": bool(row.get("removed_at")), "merged_into": row.get("merged_into")},
    )


def _publication_hit(row: dict[str, Any], source: str) -> Hit:
    return Hit(
        kind="publication",
        id=row.get("record_id") or row[SOURCES[source].shape.key],
        title=row["title"] or "",
        date=row["sort_date"],
        detail=(f"PREPRINT, not peer reviewed ({row.get('preprint_server') or 'server not given'}) · " if row.get("is_preprint") else "")
        + f"{row['journal_abbrev'] or row['journal'] or ''} {row['pub_date'] or ''}".strip() + (" · RETRACTED" if row["is_retracted"] else ""),
        snippet=row.get("snippet") or "",  # plain text: the index reads list columns as "a; b" (m007)
        url=SOURCES[source].url(row.get("record_id") or row[SOURCES[source].shape.key]),
        rank=row.get("rank") or 0.0,
        extra={"source": source, "doi": row["doi"], "authors": json.loads(row["authors"] or "[]"), "is_retracted": bool(row["is_retracted"]),
               "is_preprint": bool(row.get("is_preprint"))},
    )


def _hit(row: dict[str, Any], table: str) -> Hit:
    """A stored row as a hit, read by the kind of record its table keeps."""
    source = TABLES[table]
    return (_trial_hit if source.kind == "trial" else _publication_hit)(row, source.name)


@dataclass
class LocalResult:
    hits: list[Hit]
    windowed: list[tuple[str, Narrowed]]  # (table, what was ranked): a common word's newest matches or records
    more: bool = False  # more records match than were shown (a table gave `limit` rows, or the tables together more)


SEARCH_SOURCES = ("all", "trials", "publications", *(n for n in SOURCES), *(s.shape.table for s in SOURCES.values() if s.shape.table not in ("trials", "publications")))


def searched_tables(source: str, f: RecordFilter) -> list[str]:
    """The tables a search reads: every table of a kind ("trials": every registry's; "publications"), one source's
    (its name or its table), or all; a trial-only filter (status, phase, results) keeps the trial tables."""
    if source in SOURCES or source in TABLES:
        chosen = [(SOURCES.get(source) or TABLES[source]).shape.table]
    else:
        kinds = {"trials": ("trial",), "publications": ("publication",)}.get(source, ("trial", "publication"))
        chosen = [s.shape.table for s in SOURCES.values() if s.kind in kinds]
    return [t for t in chosen if TABLES[t].kind == "trial"] if f.trials_only else chosen


def once_per_study(store: Store, hits: list["Hit"]) -> list["Hit"]:
    """Hits of one study (registrations sharing an id) or one work (a paper's PubMed and Europe PMC records, its
    preprint) as one hit, the best ranked, shown under the preferred record and naming the others (a study's with
    their status and where the registries disagree)."""
    groups: dict[tuple[str, str], Any] = {}
    for kind, group in (("trial", group_trials), ("publication", group_works)):
        keys = [(h.extra["source"], h.id) for h in hits if h.kind == kind]
        if keys:
            groups.update(group(store, list(dict.fromkeys(keys))))
    kept, shown = [], set()
    for hit in hits:
        study = groups.get((hit.extra.get("source"), hit.id))
        if study is None:
            kept.append(hit)
            continue
        if study.preferred in shown:
            continue
        shown.add(study.preferred)
        if len(study.members) > 1:
            first = study.members[0]
            if (hit.extra["source"], hit.id) != study.preferred:
                hit.extra["matched"] = {"source": hit.extra["source"], "id": hit.id}
                hit.id, hit.title = first["record_id"], first.get("title") or hit.title
                hit.url = SOURCES[first["source"]].url(first["record_id"])
                hit.extra["source"] = first["source"]
            key = "registrations" if hit.kind == "trial" else "versions"
            hit.extra[key] = [{"source": m["source"], "id": m["record_id"], "status": m["status_text"],
                               "url": SOURCES[m["source"]].url(m["record_id"]), "tied_by": m["tied_by"]} for m in study.others]
            if hit.kind == "trial":
                hit.extra["disagreements"] = study.disagreements
        kept.append(hit)
    return kept


def search_local(store: Store, text: str | None, *, source: str = "all", f: RecordFilter = RecordFilter(), limit: int = 20, raw: bool = False) -> LocalResult:
    """Trials and publications matching the text, best first (bm25); filters narrow as in export. Without a text,
    the records the filters select, newest first (`tracker search --line NAME` lists a topic line)."""
    kinds = searched_tables(source, f)
    if text is None and not raw:
        listed = [select_listing(store, kind=kind, f=f, limit=limit) for kind in kinds]
        hits = [_hit(r, kind) for kind, found in zip(kinds, listed) for r in found]
        hits.sort(key=lambda h: h.rank)
        shown = once_per_study(store, hits)
        return LocalResult(hits=shown[:limit], windowed=[], more=len(shown) > limit or any(len(found) >= limit for found in listed))
    text = text or ""
    if raw:
        if not text.strip():
            raise TrackerError("nothing to search for: give an FTS5 expression")
        if len(text) > MAX_TEXT:
            raise TrackerError(f"search text is {len(text):,} characters; the limit is {MAX_TEXT:,}")
        match = text
    else:
        match = fts_query(text)
    try:
        rankings = [select_ranking(store, match, kind=kind, f=f, limit=limit, window=search_window(len(kinds))) for kind in kinds]
        # every table's best, merged by score; rows and snippets are read for the hits shown only (and a few more,
        # for the registrations of one study that once_per_study folds into one hit)
        candidates = sorted((score, i, rowid) for i, ranking in enumerate(rankings) for rowid, score, _ in ranking.best)
        hits: list[Hit] = []
        shown: list[Hit] = []
        taken = 0
        while taken < len(candidates) and len(shown) < limit:
            chunk = candidates[taken : taken + limit - len(shown) + FOLD_MARGIN]
            taken += len(chunk)
            for i in sorted({i for _, i, _ in chunk}):
                rowids = [rowid for _, j, rowid in chunk if j == i]
                hits.extend(_hit(r, rankings[i].kind) for r in select_ranked_rows(store, match, rankings[i], rowids))
            hits.sort(key=lambda h: h.rank)
            shown = once_per_study(store, hits)
    except sqlite3.OperationalError as exc:
        if raw and "locked" not in str(exc):  # the SQL is fixed; only the user's expression can be at fault
            raise TrackerError(f"not a valid FTS5 expression: {exc}") from None
        raise
    windowed = [(ranking.kind, ranking.narrowed) for ranking in rankings if ranking.narrowed]
    full = any(len(ranking.best) >= limit for ranking in rankings)
    return LocalResult(hits=shown[:limit], windowed=windowed, more=full or len(shown) > limit or taken < len(candidates))


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
    for service in SOURCES.values():
        if service.search is None or source not in ("all", service.shape.table, service.name, {"trial": "trials"}.get(service.kind, "publications")):
            continue
        total, records = service.search(client, settings, text, limit)
        hits = [_hit(service.shape.row(r), service.shape.table) for r in records]
        results.append(LiveResult(source=service.label, total=total, hits=hits))
    return results


# -- show ------------------------------------------------------------------------------------------

def classify_id(identifier: str) -> tuple[str, str]:
    """(scheme, normal form) of any id a record may carry: NCT, PMID, DOI, PMCID, EudraCT, EU CT, ISRCTN, jRCT, UMIN,
    ChiCTR, IRCT, CTRI, DRKS ...; TrackerError for anything else."""
    recognised = recognise(identifier)
    if recognised:
        return recognised
    value = identifier.strip()
    shown = value if len(value) <= 60 else value[:57] + "..."
    raise TrackerError(f"{shown!r} is not an NCT number (NCT12345678), a PMID (digits) or a DOI (10.xxxx/...), nor a PMCID, "
                       "EudraCT, EU CT, ISRCTN, jRCT, UMIN, ChiCTR, IRCT, CTRI, DRKS, ANZCTR or CRiS number")


def _stored_by_own_id(store: Store, identifier: str) -> list[tuple[str, str]]:
    """(source, id) of stored records whose own id is exactly this (an ICTRP TrialID such as JPRN-jRCT2071210009)."""
    value = identifier.strip()
    return [(s.name, value) for s in SOURCES.values() if value and select_record(store, s.shape.table, value)]


def show_record(store: Store, identifier: str) -> dict[str, Any]:
    """The record an id leads to, whatever the id: its own, or any other it carries (a CT.gov study found by its
    EudraCT number, a paper by its DOI, an ICTRP record by its TrialID). Records of other registries carrying the
    same registration are the same study: the study is shown whole, under its preferred record, naming every
    registration with its status, what tied it, and any field the registries disagree on."""
    found = _stored_by_own_id(store, identifier)
    if not found:
        scheme, value = classify_id(identifier)
        found = select_identified(store, scheme, value)
        if not found:
            live = f"try `tracker search --live {value}`"
            raise TrackerError({"nct": f"{value} is not in the database; {live} or add it to a topic line",
                                "pmid": f"PMID {value} is not in the database; {live}",
                                "doi": f"no stored publication has DOI {value}; {live}"}.get(
                scheme, f"no stored record carries {label_for(scheme)} {value}"))
    order = list(SOURCES)
    source, record_id = min(found, key=lambda hit: (order.index(hit[0]) if hit[0] in order else len(order), hit[1]))
    disagreements: list[str] = []
    supplements: list[str] = []
    if SOURCES[source].kind == "trial":
        study = group_trials(store, [(source, record_id)])[(source, record_id)]
        (source, record_id), disagreements, supplements = study.preferred, study.disagreements, study.supplements
        same = [{"source": m["source"], "id": m["record_id"], "label": m["label"], "status": m["status_text"],
                 "url": m["url"], "tied_by": m["tied_by"]} for m in study.others]
    else:
        work = group_works(store, [(source, record_id)])[(source, record_id)]
        source, record_id = work.preferred
        same = [{"source": m["source"], "id": m["record_id"], "label": m["label"], "status": m["status_text"],
                 "url": SOURCES[m["source"]].url(m["record_id"]), "tied_by": m["tied_by"]} for m in work.others]
    service = SOURCES[source]
    table = service.shape.table
    record = select_record(store, table, record_id)
    identifiers = [{**i, "label": label_for(i["scheme"]), "url": url_for(i["scheme"], i["value"])}
                   for i in select_identifiers(store, source, record_id)]
    record = decoded(record)
    reading = shown_trial(store, source, record_id, record) if service.kind == "trial" else shown_paper(store, source, record_id, record)
    return {"kind": service.kind, "source": source, "id": record_id, "record": record, **reading,
            "identifiers": identifiers, "same": same, "disagreements": disagreements, "supplements": supplements,
            "cited_by": select_cited_by(store, source, record_id) if service.kind == "publication" else None,
            "changes": select_changes(store, table, record_id), "links": select_links(store, source, record_id),
            "lines": select_matches(store, table, record_id), "signals": select_record_signals(store, record_id)}
