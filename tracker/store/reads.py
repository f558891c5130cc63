"""Every read, each a select_* function over a Store: the record pages (show), the digest's window reads, search
and export with their shared filters, and the claims register's reads. Every list is ordered, so the same data
always renders the same way."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ..identifiers import SCHEMES
from .connection import Store
from . import tiers
from .rows import KINDS, RAW_COLUMNS, Kind

TRIAL_KINDS = tuple(dict.fromkeys(k for k in KINDS.values() if k.record_kind == "trial"))
IDENTITY_SCHEMES = {kind: tuple(n for n, s in SCHEMES.items() if s.identity and s.kind == kind) for kind in ("trial", "publication")}


def _one(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    return rows[0] if rows else None


def _in_window(column: str) -> str:
    return f"{column} >= :start AND {column} < :end"


def _lines_of(source: str, record: str) -> str:
    """The topic lines that matched a record, as 'a|b' (the digest places the record under the first)."""
    return f"(SELECT group_concat(query, '|') FROM query_matches m WHERE m.source = '{source}' AND m.record_id = {record})"


# -- one record ------------------------------------------------------------------------------------

def select_last_cursor(store: Store, source: str, query: str) -> str | None:
    row = _one(store.rows(
        "SELECT cursor FROM runs WHERE source = ? AND query = ? AND status = 'ok' AND cursor IS NOT NULL ORDER BY id DESC LIMIT 1",
        (source, query),
    ))
    return row["cursor"] if row else None


def select_record(store: Store, table: str, record_id: str) -> dict[str, Any] | None:
    """One stored record of a source's table, by its own id."""
    k = KINDS[table]
    return _one(store.rows(f"SELECT * FROM {k.table} WHERE {k.key} = ?", (record_id,)))


def select_versions(store: Store, source: str, ids: list[str]) -> dict[str, str | None]:
    """The last update the registry had posted for each of these stored records (a source that compares versions
    instead of windowing by date asks before fetching a record again)."""
    k = KINDS[source]
    found: dict[str, str | None] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        found.update(store.execute(f"SELECT {k.key}, last_update_posted_date FROM {k.table} WHERE {k.key} IN ({','.join('?' * len(chunk))})", chunk).fetchall())
    return found


def select_revisited(store: Store, source: str, line: str) -> list[str]:
    """The stored records of a line its source asks for again on every run (its shape's `revisit` condition)."""
    k = KINDS[source]
    return [r[0] for r in store.execute(
        f"SELECT t.{k.key} FROM query_matches m JOIN {k.table} t ON t.{k.key} = m.record_id "
        f"WHERE m.query = ? AND m.source = ? AND ({k.shape.revisit}) ORDER BY t.{k.key}", (line, source))]


def select_publication(store: Store, pmid: str) -> dict[str, Any] | None:
    return select_record(store, "publications", pmid)


def select_identified(store: Store, scheme: str, value: str) -> list[tuple[str, str]]:
    """(source, record_id) of every stored record carrying an identifier; a DOI is matched without regard to case."""
    rows = store.execute("SELECT DISTINCT source, record_id FROM identifiers WHERE scheme = ? AND value = ? ORDER BY source, record_id",
                         (scheme, value.lower() if scheme == "doi" else value)).fetchall()
    return [(source, record_id) for source, record_id in rows]


def select_identifiers(store: Store, source: str, record_id: str) -> list[dict[str, Any]]:
    """Every identifier a record carries: its own first, then its other registrations and ids, then 'other' codes."""
    return store.rows(
        "SELECT scheme, value, via FROM identifiers WHERE source = ? AND record_id = ? "
        "ORDER BY via != 'own', scheme = 'other', scheme, value", (source, record_id))


def select_changes(store: Store, kind: str, record_id: str) -> list[dict[str, Any]]:
    """A record's tracked changes, newest first; kind is a table or a source name."""
    k = KINDS[kind]
    return store.rows(f"SELECT * FROM {k.changes_table} WHERE {k.key} = ? ORDER BY detected_at DESC, id DESC", (record_id,))


def _titles(store: Store, records: set[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
    titles: dict[tuple[str, str], str | None] = {}
    for source in {s for s, _ in records if s in KINDS}:
        k = KINDS[source]
        ids = [r for s, r in records if s == source]
        for row in store.execute(f"SELECT {k.key}, title FROM {k.table} WHERE {k.key} IN ({','.join('?' * len(ids))})", ids):
            titles[(source, row[0])] = row[1]
    return titles


def select_links(store: Store, source: str, record_id: str) -> list[dict[str, Any]]:
    """The identifiers a record names (a study's references, a paper's registrations), each with the stored records
    that carry it, and the stored records that name one of this record's identifiers; with the channel, its detail
    and when first seen. Ordered by the other end's id."""
    out = store.rows(
        "SELECT l.scheme, l.value, l.via, l.detail, l.first_seen_at, i.source AS other_source, i.record_id AS other_id "
        "FROM links l LEFT JOIN identifiers i ON i.scheme = l.scheme AND i.value = l.value "
        "WHERE l.source = ? AND l.record_id = ? ORDER BY l.value, l.via, i.source", (source, record_id))
    into = store.rows(
        "SELECT l.scheme, l.value, l.via, l.detail, l.first_seen_at, l.source AS other_source, l.record_id AS other_id "
        "FROM identifiers i JOIN links l ON l.scheme = i.scheme AND l.value = i.value "
        "WHERE i.source = ? AND i.record_id = ? AND NOT (l.source = i.source AND l.record_id = i.record_id) "
        "ORDER BY l.record_id, l.via", (source, record_id))
    titles = _titles(store, {(r["other_source"], r["other_id"]) for r in out + into if r["other_source"]})
    links = []
    for direction, rows in (("names", out), ("named by", into)):
        for r in rows:
            other = r["other_id"] or r["value"]
            link = {"direction": direction, "scheme": r["scheme"], "value": r["value"], "other_source": r["other_source"],
                    "other_id": other, "via": r["via"], "detail": r["detail"], "first_seen_at": r["first_seen_at"],
                    "title": titles.get((r["other_source"], r["other_id"]))}
            # a trial-paper link also reads as a trial_publications row did (nct_id, pmid, source, reference_type)
            ends = {r["scheme"]: r["value"], ("pmid" if r["scheme"] == "nct" else "nct"): record_id if direction == "names" else other}
            if set(ends) == {"nct", "pmid"}:
                link.update(nct_id=ends["nct"], pmid=ends["pmid"], source=r["via"], reference_type=r["detail"])
            links.append(link)
    links.sort(key=lambda link: (link["other_id"], link["via"]))
    return links


def select_line_names(store: Store) -> list[str]:
    """Every topic line that has matched a record in this database."""
    return [r["query"] for r in store.rows("SELECT DISTINCT query FROM query_matches ORDER BY query")]


def select_matches(store: Store, kind: str, record_id: str) -> list[dict[str, Any]]:
    return store.rows(
        "SELECT query, first_seen_at FROM query_matches WHERE source = ? AND record_id = ? ORDER BY first_seen_at, query",
        (KINDS[kind].source, record_id),
    )


# -- the digest's window ---------------------------------------------------------------------------

def select_new_trials(store: Store, start: str, end: str) -> list[dict[str, Any]]:
    return store.rows(
        f"SELECT t.*, {_lines_of('ctgov', 't.nct_id')} AS queries "
        f"FROM trials t WHERE {_in_window('t.first_seen_at')} ORDER BY t.first_seen_at DESC, t.nct_id",
        {"start": start, "end": end},
    )


def select_trial_changes(store: Store, start: str, end: str) -> list[dict[str, Any]]:
    """Changes detected in the window to trials that were already known before it."""
    return store.rows(
        f"SELECT c.*, t.title, t.overall_status, t.results_first_posted_date, t.url, {_lines_of('ctgov', 'c.nct_id')} AS queries "
        f"FROM trial_changes c JOIN trials t ON t.nct_id = c.nct_id WHERE {_in_window('c.detected_at')} AND t.first_seen_at < :start "
        "ORDER BY c.detected_at DESC, c.nct_id, c.id",
        {"start": start, "end": end},
    )


PUBLICATION_KINDS = tuple(dict.fromkeys(k for k in KINDS.values() if k.record_kind == "publication"))
PUBLICATION_COMMON = ("pmid", "title", "authors", "journal", "journal_abbrev", "volume", "issue", "pages", "pub_date", "sort_date",
                      "doi", "publication_types", "is_retracted", "is_deleted", "is_book", "corrections", "first_seen_at",
                      "is_preprint", "preprint_server", "version", "published_in", "mesh_terms")
PUBLICATION_STAND_INS = {"is_deleted": "0", "is_book": "0", "corrections": "'[]'", "is_preprint": "0", "mesh_terms": "'[]'"}  # what a table without the column means


def _publication_columns(k: Kind, alias: str) -> str:
    """A publication table's columns under the names every publication table shares (PubMed's, and Europe PMC's
    preprint fields), a stand-in where a table has no such column."""
    declared = k.shape.columns or {}
    if not declared:  # the tracker's own table (publications): PubMed's columns, no preprint fields
        declared = {c: str for c in PUBLICATION_COMMON if c not in ("is_preprint", "preprint_server", "version", "published_in")}
    return ", ".join(f"{alias}.{c}" if c in declared else f"{PUBLICATION_STAND_INS.get(c, 'NULL')} AS {c}" for c in PUBLICATION_COMMON)


def _linked_trials(k: Kind, key: str) -> str:
    """SQL: the trial registrations a paper names and the stored trials citing it, as 'a,b'."""
    schemes = ",".join(f"'{s}'" for s in IDENTITY_SCHEMES["trial"])
    trial_sources = ",".join(f"'{t.source}'" for t in TRIAL_KINDS)
    return (f"(SELECT group_concat(DISTINCT trial) FROM (SELECT l.value AS trial FROM links l WHERE l.source = '{k.source}' "
            f"AND l.record_id = {key} AND l.scheme IN ({schemes}) UNION SELECT l.record_id FROM identifiers i JOIN links l "
            f"ON l.scheme = i.scheme AND l.value = i.value WHERE i.source = '{k.source}' AND i.record_id = {key} "
            f"AND l.source IN ({trial_sources}) ORDER BY 1))")


def select_new_publications(store: Store, start: str, end: str) -> list[dict[str, Any]]:
    """Papers of every publication source first stored in the window, with their source, id, lines and linked trials."""
    parts = [f"SELECT '{k.source}' AS source, p.{k.key} AS record_id, {_publication_columns(k, 'p')}, "
             f"{_lines_of(k.source, f'p.{k.key}')} AS queries, {_linked_trials(k, f'p.{k.key}')} AS linked_trials, "
             f"(SELECT group_concat(DISTINCT value) FROM links c WHERE c.source = '{k.source}' AND c.record_id = p.{k.key} "
             f"AND c.via = '{k.source}_cites') AS cited_anchors "
             f"FROM {k.table} p WHERE {_in_window('p.first_seen_at')}" for k in PUBLICATION_KINDS]
    return store.rows(" UNION ALL ".join(parts) + " ORDER BY sort_date DESC, record_id DESC", {"start": start, "end": end})


def select_publication_changes(store: Store, start: str, end: str) -> list[dict[str, Any]]:
    """Changes detected in the window to papers of every publication source stored before it."""
    parts = [f"SELECT '{k.source}' AS source, c.{k.key} AS record_id, c.id, c.field, c.old_value, c.new_value, c.detected_at, "
             f"c.run_id, p.title, p.doi, {'p.published_in' if 'published_in' in (k.shape.columns or {}) else 'NULL AS published_in'}, "
             f"{_lines_of(k.source, f'c.{k.key}')} AS queries FROM {k.changes_table} c JOIN {k.table} p ON p.{k.key} = c.{k.key} "
             f"WHERE {_in_window('c.detected_at')} AND p.first_seen_at < :start" for k in PUBLICATION_KINDS]
    return store.rows(" UNION ALL ".join(parts) + " ORDER BY detected_at DESC, source DESC, record_id, id", {"start": start, "end": end})


PUBLICATION_SUMMARY_COLUMNS = ("title", "sort_date", "first_seen_at", "is_preprint", "preprint_server", "published_in", "doi", "pmid")


def select_publication_summaries(store: Store, records: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """What a reader is told of each version of a work (title, date, whether a preprint and from which server)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for source in dict.fromkeys(s for s, _ in records):
        k = KINDS[source]
        ids = [r for s, r in records if s == source]
        declared = k.shape.columns or {}
        columns = ", ".join(c if c in declared or (not declared and c in ("title", "sort_date", "first_seen_at", "doi", "pmid"))
                            else f"{PUBLICATION_STAND_INS.get(c, 'NULL')} AS {c}" for c in PUBLICATION_SUMMARY_COLUMNS)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for row in store.rows(f"SELECT {k.key} AS record_id, {columns} FROM {k.table} WHERE {k.key} IN ({','.join('?' * len(chunk))})", chunk):
                found[(source, row["record_id"])] = row
    return found


def select_new_links(store: Store, start: str, end: str) -> list[dict[str, Any]]:
    """Trial-publication links first seen in the window where both records are stored, whichever sources they are
    of and whichever end named the other (a study's reference, a paper's registration, a full-text mention, a
    registry's results link), one entry per (trial, paper) with every channel: 'ctgov_reference:RESULT, pubmed_databank'.
    Citation links (paper to paper) are not among them."""
    kind_of = {k.source: k.record_kind for k in KINDS.values()}
    pairs: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for via, detail, first_seen, from_source, from_id, to_source, to_id in store.execute(
        "SELECT l.via, l.detail, l.first_seen_at, l.source, l.record_id, i.source, i.record_id FROM links l "
        "JOIN identifiers i ON i.scheme = l.scheme AND i.value = l.value "
        f"WHERE {_in_window('l.first_seen_at')} AND l.via NOT LIKE '%\\_cites' ESCAPE '\\' ORDER BY l.first_seen_at, l.via",
        {"start": start, "end": end},
    ):
        kinds = (kind_of.get(from_source), kind_of.get(to_source))
        if set(kinds) != {"trial", "publication"}:
            continue
        trial, paper = ((from_source, from_id), (to_source, to_id)) if kinds[0] == "trial" else ((to_source, to_id), (from_source, from_id))
        entry = pairs.setdefault((*trial, *paper), {"trial_source": trial[0], "trial_id": trial[1], "pub_source": paper[0],
                                                     "pub_id": paper[1], "channels": []})
        channel = via + (f":{detail}" if detail else "")
        if channel not in entry["channels"]:
            entry["channels"].append(channel)
    if not pairs:
        return []
    trials = select_trial_summaries(store, [(e["trial_source"], e["trial_id"]) for e in pairs.values()])
    papers = select_publication_summaries(store, [(e["pub_source"], e["pub_id"]) for e in pairs.values()])
    retracted = _retracted(store, [(e["pub_source"], e["pub_id"]) for e in pairs.values()])
    lines = _lines_for(store, [(e["trial_source"], e["trial_id"]) for e in pairs.values()])
    links = []
    for e in pairs.values():
        t, p = trials.get((e["trial_source"], e["trial_id"]), {}), papers.get((e["pub_source"], e["pub_id"]), {})
        links.append({**e, "sources": ", ".join(e.pop("channels")), "trial_title": t.get("title"), "publication_title": p.get("title"),
                      "publication_date": p.get("sort_date"), "pmid": p.get("pmid"), "is_preprint": p.get("is_preprint"),
                      "is_retracted": retracted.get((e["pub_source"], e["pub_id"]), 0), "queries": lines.get((e["trial_source"], e["trial_id"])),
                      "nct_id": e["trial_id"] if e["trial_source"] == "ctgov" else None})
    return sorted(links, key=lambda link: (link["trial_id"], link["pub_id"]))


def _lines_for(store: Store, records: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The topic lines that matched each record, as 'a|b', a query per source (not one per record)."""
    found: dict[tuple[str, str], str] = {}
    for source in dict.fromkeys(s for s, _ in records):
        ids = list(dict.fromkeys(r for s, r in records if s == source))
        for start in range(0, len(ids), CHUNK_IDS):
            chunk = ids[start:start + CHUNK_IDS]
            found.update(((source, r), lines) for r, lines in store.execute(
                f"SELECT record_id, group_concat(query, '|') FROM query_matches WHERE source = ? AND record_id IN ({','.join('?' * len(chunk))}) "
                "GROUP BY record_id", [source, *chunk]))
    return found


def _retracted(store: Store, records: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for source in dict.fromkeys(s for s, _ in records):
        k = KINDS[source]
        ids = [r for s, r in records if s == source]
        if "is_retracted" not in (k.shape.columns or {"is_retracted": int}):
            continue
        for start in range(0, len(ids), CHUNK_IDS):
            chunk = ids[start:start + CHUNK_IDS]
            found.update(((source, r), flag) for r, flag in store.execute(
                f"SELECT {k.key}, is_retracted FROM {k.table} WHERE {k.key} IN ({','.join('?' * len(chunk))})", chunk))
    return found


def select_incomplete_runs(store: Store, start: str, end: str) -> list[dict[str, Any]]:
    """Lines whose latest run in the window did not finish well, or finished short of what the service counted
    (status 'short', error the shortfall)."""
    return store.rows(
        "SELECT r.id, r.source, r.query, r.started_at, r.finished_at, CASE WHEN r.status = 'ok' THEN 'short' ELSE r.status END AS status, "
        "coalesce(r.error, r.shortfall) AS error FROM runs r WHERE r.id IN (SELECT max(id) FROM runs "
        f"WHERE {_in_window('started_at')} GROUP BY source, query) AND (r.status != 'ok' OR r.shortfall IS NOT NULL) ORDER BY r.source, r.query",
        {"start": start, "end": end},
    )


def select_window_drift(store: Store, start: str, end: str) -> list[dict[str, Any]]:
    """The runs started in the window that met fields in an unexpected form: source, query and drift (JSON)."""
    return store.rows(f"SELECT source, query, drift FROM runs WHERE drift IS NOT NULL AND {_in_window('started_at')} ORDER BY id",
                      {"start": start, "end": end})


def select_update_times(store: Store, start: str, end: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (source, line): whether any update of it started in the window, and when its last good one before the
    window's end finished (None: never)."""
    return {(r["source"], r["query"]): r for r in store.rows(
        f"SELECT source, query, max({_in_window('started_at')}) AS in_window, "
        "max(CASE WHEN status = 'ok' AND finished_at < :end THEN finished_at END) AS last_ok FROM runs GROUP BY source, query",
        {"start": start, "end": end},
    )}


def select_year_counts(store: Store, query: str, end: str) -> dict[str, list[tuple[int, int]]]:
    """Publications per year and trials by start year for a line, counting records known before `end` (a trial
    registered in two registries counts in each: the chart counts registrations)."""
    per_year: dict[str, dict[int, int]] = {"publications": {}, "trials": {}}
    for row in store.rows(
        "SELECT source, year, sum(n) AS n FROM line_years WHERE query = :query AND first_seen_at < :end AND year > 0 "
        "GROUP BY source, year HAVING sum(n) > 0 ORDER BY source, year",
        {"query": query, "end": end},
    ):
        if row["source"] in KINDS:  # every trial registry's records chart as trials
            chart = per_year["trials" if KINDS[row["source"]].record_kind == "trial" else "publications"]
            chart[row["year"]] = chart.get(row["year"], 0) + row["n"]
    return {name: sorted(years.items()) for name, years in per_year.items()}


def select_last_digest_end(store: Store) -> str | None:
    """Where the next scheduled digest starts: the end of the last one that was not an ad hoc window."""
    row = _one(store.rows("SELECT max(window_end) AS end FROM digests WHERE NOT ad_hoc"))
    return row["end"] if row else None


def select_digest_stem_owner(store: Store, stem: str) -> tuple[str, str] | None:
    """The window (start, end) of the recorded digest whose files carry this name, if any."""
    row = _one(store.rows("SELECT window_start, window_end FROM digests WHERE file_stem = ? ORDER BY id DESC LIMIT 1", (stem,)))
    return (row["window_start"], row["window_end"]) if row else None


def select_baseline_given(store: Store) -> bool:
    """Whether a digest written so far had stored records to show. Until one had, the next digest is the baseline
    (a first run whose updates all failed writes a digest, but it is not the baseline)."""
    row = _one(store.rows(
        "SELECT (SELECT 1 FROM trials WHERE first_seen_at < d.end LIMIT 1) AS trials, "
        "(SELECT 1 FROM publications WHERE first_seen_at < d.end LIMIT 1) AS publications "
        "FROM (SELECT max(window_end) AS end FROM digests WHERE NOT ad_hoc) AS d WHERE d.end IS NOT NULL"
    ))
    return bool(row and (row["trials"] or row["publications"]))


def select_digests(store: Store, limit: int = 50) -> list[dict[str, Any]]:
    return store.rows("SELECT * FROM digests ORDER BY window_end DESC, id DESC LIMIT ?", (limit,))


# -- search and export -----------------------------------------------------------------------------

@dataclass(frozen=True)
class RecordFilter:
    """Filters shared by search and export. Trial-only filters (status, phase, has_results) exclude publications."""

    status: tuple[str, ...] = ()
    phase: tuple[str, ...] = ()
    line: str | None = None
    since: str | None = None  # trials: start date; publications: publication date
    until: str | None = None
    has_results: bool = False
    signal: str | None = None  # only records with an open evidence signal of this kind

    @property
    def trials_only(self) -> bool:
        return bool(self.status or self.phase or self.has_results)


def _signal_where(f: RecordFilter, key: str) -> tuple[list[str], list[Any]]:
    if not f.signal:
        return [], []
    return [f"EXISTS (SELECT 1 FROM signals s WHERE s.record_id = {key} AND s.kind = ? AND s.resolved_at IS NULL)"], [f.signal]


def _line_where(f: RecordFilter, source: str, key: str) -> tuple[list[str], list[Any]]:
    """Records the line returns today: a match it has since lost (unmatched_at) is a no_longer_matched signal instead."""
    if not f.line:
        return [], []
    return [f"EXISTS (SELECT 1 FROM query_matches m WHERE m.query = ? AND m.source = '{source}' AND m.record_id = {key} "
            "AND m.unmatched_at IS NULL)"], [f.line]


def _record_where(f: RecordFilter, source: str, key: str, dated: str) -> tuple[list[str], list[Any]]:
    """The filters every record kind shares: an open signal, a topic line, --since/--until on its `dated` column
    (a trial's start, a paper's publication date)."""
    (signal, signal_params), (line, line_params) = _signal_where(f, key), _line_where(f, source, key)
    where, params = signal + line, signal_params + line_params
    for bound, op in ((f.since, ">="), (f.until, "<")):
        if bound:
            where.append(f"{dated} {op} ?")
            params.append(bound)
    return where, params


def _trial_where(k: Kind, alias: str = "t") -> Callable[[RecordFilter], tuple[list[str], list[Any]]]:
    """The filters of a trial table (any registry's: they share the columns filtered on)."""
    def where_(f: RecordFilter) -> tuple[list[str], list[Any]]:
        where, params = _record_where(f, k.source, f"{alias}.{k.key}", f"{alias}.start_date")
        if f.status:
            where.append(f"{alias}.overall_status IN ({','.join('?' * len(f.status))})")
            params.extend(f.status)
        if f.phase:
            where.append("(" + " OR ".join(f"{alias}.phases LIKE ?" for _ in f.phase) + ")")
            params.extend(f'%"{p}"%' for p in f.phase)
        if f.has_results:
            where.append(f"{alias}.has_results = 1")
        return where, params
    return where_


def _publication_where(k: Kind, alias: str = "p") -> Callable[[RecordFilter], tuple[list[str], list[Any]]]:
    return lambda f: _record_where(f, k.source, f"{alias}.{k.key}", f"{alias}.sort_date")


TRIAL_SUMMARY = ("t.title, t.overall_status, t.phases, t.start_date, t.lead_sponsor, t.has_results, t.enrollment, "
                 "t.removed_at, t.merged_into")
PUBLICATION_SUMMARY = "p.pmid, p.title, p.journal_abbrev, p.journal, p.pub_date, p.sort_date, p.doi, p.authors, p.is_retracted, p.publication_types"


@dataclass(frozen=True)
class _Listed:
    """How search, listing and export read one table: its alias in the SQL, key, summary columns, recency, filters."""

    alias: str
    key: str
    summary: str
    recency: str  # the date a listing sorts newest first by
    where: Callable[[RecordFilter], tuple[list[str], list[Any]]]


def _listed(k: Kind) -> _Listed:
    if k.record_kind == "trial":  # every trial table's rows read alike: its id as record_id (CT.gov's also as nct_id)
        ids = f"t.{k.key} AS record_id" + (", t.nct_id" if k.key == "nct_id" else "")
        return _Listed("t", k.key, f"{ids}, {TRIAL_SUMMARY}", "coalesce(t.first_posted_date, t.start_date)", _trial_where(k))
    declared = k.shape.columns or {}
    preprint = ", ".join(f"p.{c}" if c in declared else f"{PUBLICATION_STAND_INS.get(c, 'NULL')} AS {c}" for c in ("is_preprint", "preprint_server"))
    return _Listed("p", k.key, f"p.{k.key} AS record_id, {PUBLICATION_SUMMARY}, {preprint}", "p.sort_date", _publication_where(k))


LISTED = {k.table: _listed(k) for k in dict.fromkeys(KINDS.values())}


SEARCH_WINDOW = 5_000  # records ranked by one search, shared among the tables it reads (search_window)
SEARCH_WINDOW_MIN = 500  # ... but never fewer than this per table
WIDEN = 8  # when the filters leave fewer than the limit in a window, the next window is this many times wider


def search_window(tables: int) -> int:
    """The newest matches each table ranks when a word is common: bm25 costs 1-3 microseconds per matching row, and
    a search of every source reads six tables, so the window is shared among them."""
    return max(SEARCH_WINDOW_MIN, SEARCH_WINDOW // max(1, tables))


SNIPPET_MAX_CHARS = 200_000  # a hit's searchable text past this is not quoted in a snippet (the longest PubMed abstracts are ~20,000)


@dataclass(frozen=True)
class Narrowed:
    """A search of a common word ranked part of its matches: more than `more_than` matched, and the best of the
    `newest` most recently stored `of` ("matches", or "records": the newest tier) are returned."""

    more_than: int
    newest: int
    of: str


@dataclass(frozen=True)
class Ranking:
    """One table's best matches for a search, best first: (rowid, bm25 score, the index it was ranked in: the whole
    one or the newest tier's searched generation), where its snippet is cut too."""

    kind: str
    best: list[tuple[int, float, str]]
    narrowed: Narrowed | None


def select_ranking(store: Store, match: str, *, kind: str, f: RecordFilter, limit: int, window: int | None = None) -> Ranking:
    """The best `limit` matches of one table, ranked by bm25 without reading their rows. `match` is an FTS5 expression.

    Fewer than `window` matches: all are ranked. More (a common word): its newest `window` matches are ranked, and if
    the filters leave fewer than `limit` of them, a window WIDEN times wider, until the limit is met or every match is
    ranked: a narrow filter costs at most WIDEN/(WIDEN-1) times the window that satisfies it, never the whole index at
    once. bm25 costs 1-3 microseconds a ranked row, and a word's whole doclist in the index it ranks in (it counts the
    word's records: 15 ms for "stem cell" over a million papers), so a common word is ranked in the newest tier
    (store/tiers.py: its older generation, 10,000-20,000 records) when the filters leave `limit` there: the window's
    matches if the tier holds them all, else every match the tier holds. `narrowed` says what was ranked (None: every
    match)."""
    fts = f"{kind}_fts"
    window = window or SEARCH_WINDOW

    def cut_at(n: int) -> int | None:
        found = store.rows(f"SELECT rowid FROM {fts} WHERE {fts} MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ?", (match, n))
        return found[0]["rowid"] if found else None

    def every_match() -> Ranking:
        return Ranking(kind, _best(store, match, kind=kind, f=f, limit=limit, min_rowid=None), None)

    # counted first in rowid order: FTS5 walks an AND of words forward in half the time it walks it back, and a
    # rare pair of common words ("stem cell" in the trials) has fewer matches than the window, so needs no cut
    if store.execute(f"SELECT count(*) FROM (SELECT rowid FROM {fts} WHERE {fts} MATCH ? LIMIT ?)", (match, window + 1)).fetchone()[0] <= window:
        return every_match()
    tier = tiers.searched(store, kind)
    while (start := cut_at(window)) is not None:
        floor = max(start, tier.first) if tier else None  # the tier holds every row from its first on
        if tier is not None:
            best = _best(store, match, kind=kind, f=f, limit=limit, min_rowid=floor, index=tier.name)
            if len(best) >= limit:
                if floor == start:
                    return Ranking(kind, best, Narrowed(window, window, "matches"))
                return Ranking(kind, best, Narrowed(window, tiers.rows(store, tier), "records"))
        if floor != start:  # the window reaches below the tier: ranked in the whole index (held in the tier, it found no more there)
            best = _best(store, match, kind=kind, f=f, limit=limit, min_rowid=start)
            if len(best) >= limit:
                return Ranking(kind, best, Narrowed(window, window, "matches"))
        window *= WIDEN
    return every_match()


def select_ranked_rows(store: Store, match: str, ranking: Ranking, rowids: list[int] | None = None) -> list[dict[str, Any]]:
    """The rows of a ranking (or of those of its rowids), best first, each with its score as `rank` and a
    highlighted snippet cut in the index it was ranked in. snippet() tokenizes a hit's whole text: only the hits
    shown get one; a record of megabytes (no real abstract is) gets its title's start instead."""
    kind, alias, summary = ranking.kind, LISTED[ranking.kind].alias, LISTED[ranking.kind].summary
    wanted = set(rowids) if rowids is not None else None
    rows: list[dict[str, Any]] = []
    for index in dict.fromkeys(index for _, _, index in ranking.best):
        best = [(rowid, score) for rowid, score, where in ranking.best if where == index and (wanted is None or rowid in wanted)]
        if not best:
            continue
        size = " + ".join(f"coalesce(length({alias}.{c}), 0)" for c in KINDS[kind].shape.text_columns)
        snippet = (f"CASE WHEN {size} > {SNIPPET_MAX_CHARS} THEN substr({alias}.title, 1, 120) || ' … (text too long to quote)' "
                   f"ELSE snippet({index}, -1, '[', ']', '…', 12) END")
        # The index walks its matches between the first and last hit chosen (no more than it ranked) and SQLite keeps
        # the chosen: a lookup per hit would begin the match anew each time (5 ms for 25 hits in a million papers,
        # against 1 ms). The chosen as one JSON parameter: a compound SELECT of them would stop at SQLite's 500 terms.
        chosen = "SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS score FROM json_each(?)"
        sql = (f"SELECT {summary}, {snippet} AS snippet, best.score AS rank "
               f"FROM {index} CROSS JOIN ({chosen}) AS best CROSS JOIN {kind} {alias} ON {alias}.rowid = best.id "
               f"WHERE {index} MATCH ? AND {index}.rowid BETWEEN ? AND ? "
               f"AND +{index}.rowid IN (SELECT json_extract(value, '$[0]') FROM json_each(?1)) AND best.id = {index}.rowid")
        rows.extend(store.rows(sql, [json.dumps(best), match, min(r for r, _ in best), max(r for r, _ in best)]))
    return sorted(rows, key=lambda row: row["rank"])


def select_search(store: Store, match: str, *, kind: str, f: RecordFilter, limit: int, window: int | None = None) -> tuple[list[dict[str, Any]], Narrowed | None]:
    """FTS5 search of one table, best first (bm25), each row with a highlighted snippet: select_ranking, then
    select_ranked_rows. The second value says what was ranked (None: every match)."""
    ranking = select_ranking(store, match, kind=kind, f=f, limit=limit, window=window)
    return select_ranked_rows(store, match, ranking), ranking.narrowed


def _best(store: Store, match: str, *, kind: str, f: RecordFilter, limit: int, min_rowid: int | None, index: str | None = None) -> list[tuple[int, float, str]]:
    """The best `limit` matches by bm25, filters applied: (rowid, score, index), ranked in `index` (the whole
    {kind}_fts unless a generation of the newest tier is named)."""
    alias = LISTED[kind].alias
    ranker = index or f"{kind}_fts"
    where, params = LISTED[kind].where(f)
    if min_rowid is not None:
        where.insert(0, f"{ranker}.rowid >= ?")
        params.insert(0, min_rowid)
    join = f" JOIN {kind} {alias} ON {alias}.rowid = {ranker}.rowid" if any(f"{alias}." in w for w in where) else ""
    sql = (f"SELECT {ranker}.rowid, bm25({ranker}) AS score FROM {ranker}{join} WHERE {ranker} MATCH ?"
           + "".join(f" AND {w}" for w in where) + " ORDER BY score LIMIT ?")
    return [(rowid, score, ranker) for rowid, score in store.execute(sql, [match, *params, limit]).fetchall()]


def _day(column: str) -> str:
    """SQL: a registry or PubMed date (YYYY, YYYY-MM or YYYY-MM-DD) as a day number; 0 when missing."""
    return f"coalesce(julianday(substr({column} || '-01-01', 1, 10)), 0)"


def select_listing(store: Store, *, kind: str, f: RecordFilter, limit: int) -> list[dict[str, Any]]:
    """Records the filters select, without a search text: newest first (trials by first posting, publications by date).
    The rank is minus the day number, so trials and publications listed together sort newest first too."""
    table = LISTED[kind]
    where, params = table.where(f)
    sql = (f"SELECT {table.summary}, NULL AS snippet, -{_day(table.recency)} AS rank FROM {kind} {table.alias}"
           + (" WHERE " + " AND ".join(where) if where else "") + f" ORDER BY rank, {table.alias}.{table.key} DESC LIMIT ?")
    return store.rows(sql, [*params, limit])


def select_export(store: Store, *, kind: str, f: RecordFilter, match: str | None = None) -> Iterator[dict[str, Any]]:
    """Whole rows (without raw payloads) for export, streamed."""
    table = LISTED[kind]
    where, params = table.where(f)
    if match:
        where.insert(0, f"{table.alias}.rowid IN (SELECT rowid FROM {kind}_fts WHERE {kind}_fts MATCH ?)")
        params.insert(0, match)
    sql = (f"SELECT {table.alias}.* FROM {kind} {table.alias}" + (" WHERE " + " AND ".join(where) if where else "")
           + f" ORDER BY {table.alias}.{table.key}")
    cursor = store.execute(sql, params)
    names = [d[0] for d in cursor.description]
    for row in cursor:
        yield {k: v for k, v in zip(names, row) if k not in RAW_COLUMNS}


# -- the claims register ---------------------------------------------------------------------------

def select_line_trials(store: Store, line: str) -> list[dict[str, Any]]:
    """The trials a line returns today, of every registry, with their source (`nct_id` is the record's own id, as
    the claims register has always read it)."""
    return store.rows(" UNION ALL ".join(
        f"SELECT '{k.source}' AS source, t.{k.key} AS nct_id, t.title, t.official_title, t.overall_status, t.phases, t.has_results, "
        "t.enrollment, t.interventions, t.results_first_posted_date, t.url, t.removed_at, t.merged_into "
        f"FROM query_matches m JOIN {k.table} t ON t.{k.key} = m.record_id "
        f"WHERE m.query = :line AND m.source = '{k.source}' AND m.unmatched_at IS NULL" for k in TRIAL_KINDS) + " ORDER BY nct_id",
        {"line": line})


def select_line_publications(store: Store, line: str, since: str) -> list[dict[str, Any]]:
    return store.rows(
        "SELECT p.pmid, p.title, p.journal, p.journal_abbrev, p.pub_date, p.sort_date, p.entrez_date, p.publication_types, p.doi, p.is_retracted "
        "FROM query_matches m JOIN publications p ON p.pmid = m.record_id "
        "WHERE m.query = ? AND m.source = 'pubmed' AND m.unmatched_at IS NULL AND coalesce(p.entrez_date, p.sort_date) >= ? "
        "ORDER BY p.sort_date DESC, p.pmid",
        (line, since),
    )


def select_last_claim_check(store: Store, claim_id: str, *, mode: str | None = None) -> dict[str, Any] | None:
    sql = "SELECT * FROM claim_checks WHERE claim_id = ?" + (" AND mode = ?" if mode else "") + " ORDER BY checked_at DESC, id DESC LIMIT 1"
    return _one(store.rows(sql, (claim_id, mode) if mode else (claim_id,)))


def select_claim_flips(store: Store, start: str, end: str) -> list[dict[str, Any]]:
    """Checks in the window whose verdict differs from the claim's previous check."""
    return store.rows(
        "SELECT c.claim_id, c.checked_at, c.verdict, c.summary, prev.verdict AS previous FROM claim_checks c "
        "JOIN claim_checks prev ON prev.id = (SELECT id FROM claim_checks p WHERE p.claim_id = c.claim_id AND "
        "(p.checked_at < c.checked_at OR (p.checked_at = c.checked_at AND p.id < c.id)) ORDER BY p.checked_at DESC, p.id DESC LIMIT 1) "
        f"WHERE {_in_window('c.checked_at')} AND prev.verdict != c.verdict ORDER BY c.checked_at, c.claim_id",
        {"start": start, "end": end},
    )


# -- evidence signals and the registry sweep -------------------------------------------------------

SIGNAL_TRIAL_COLUMNS = (
    "'ctgov' AS source, nct_id, title, overall_status, study_type, enrollment, enrollment_type, has_results, results_first_posted_date, "
    "results_first_submit_date, disp_first_submit_date, is_fda_regulated_drug, is_fda_regulated_device, "
    "primary_completion_date, primary_completion_date_type, last_update_posted_date, removed_at, merged_into"
)


def select_signal_inputs(store: Store) -> dict[str, Any]:
    """What the signal rules read: every trial's dates and flags, the history of primary completion dates, results
    publications linked to each trial (any channel; a study's BACKGROUND references are not its results), topic-line
    matches a sweep found gone, and retracted publications with the tracked trials they are linked to."""
    links: dict[str, list[str]] = {}
    for nct, pmid in store.execute(
        "SELECT DISTINCT nct_id, pmid FROM trial_publications WHERE coalesce(reference_type, '') != 'BACKGROUND' ORDER BY nct_id, pmid"
    ):
        links.setdefault(nct, []).append(pmid)
    history: dict[str, list[dict[str, Any]]] = {}
    for row in store.rows(
        "SELECT nct_id, old_value, new_value, detected_at FROM trial_changes WHERE field = 'primary_completion_date' ORDER BY nct_id, detected_at, id"
    ):
        history.setdefault(row["nct_id"], []).append(row)
    retracted = store.rows(
        "SELECT 'pubmed' AS source, p.pmid, p.title, p.corrections, (SELECT group_concat(DISTINCT tp.nct_id) FROM trial_publications tp "
        "JOIN trials t ON t.nct_id = tp.nct_id WHERE tp.pmid = p.pmid) AS linked FROM publications p WHERE p.is_retracted = 1 ORDER BY p.pmid"
    )
    for pub in retracted:
        pub["linked_trials"] = sorted((pub.pop("linked") or "").split(",")) if pub.get("linked") else []
    return {
        "trials": store.rows(f"SELECT {SIGNAL_TRIAL_COLUMNS} FROM trials ORDER BY nct_id"),
        "registrations": select_registration_signal_inputs(store),
        "completion_history": history,
        "links": links,
        "unmatched": store.rows(" UNION ALL ".join(  # records a sweep found no longer returned by a line, of every swept source
            f"SELECT m.source, m.query, m.record_id, m.unmatched_at FROM query_matches m JOIN {k.table} t ON t.{k.key} = m.record_id "
            f"WHERE m.source = '{k.source}' AND m.unmatched_at IS NOT NULL AND t.removed_at IS NULL"
            for k in TRIAL_KINDS if k.swept) + " ORDER BY record_id, query"),
        "retracted": retracted,
    }


REGISTRATION_KINDS = tuple(k for k in TRIAL_KINDS if "registry_status" in (k.shape.columns or {}))  # sources/registrations.py's tables


def select_registration_signal_inputs(store: Store) -> list[dict[str, Any]]:
    """What the signal rules read of every other registry's trials, with whether a record is a copy (an export's)
    of a registration the store also holds from its own registry's source (the rules read that one), and the
    history of its end date (`end_history`)."""
    schemes = IDENTITY_SCHEMES["trial"]
    marks = ",".join("?" * len(schemes))
    rows: list[dict[str, Any]] = []
    for k in REGISTRATION_KINDS:
        rows.extend(store.rows(
            f"SELECT '{k.source}' AS source, trial_id AS record_id, title, registry, study_type, overall_status, registry_status, "
            "enrollment, enrollment_type, completion_date, last_update_posted_date, has_results, results_first_posted_date, "
            "paediatric, removed_at, merged_into, "
            f"EXISTS (SELECT 1 FROM identifiers a JOIN identifiers b ON b.scheme = a.scheme AND b.value = a.value AND b.source != a.source "
            f"WHERE a.source = '{k.source}' AND a.record_id = t.trial_id AND a.scheme IN ({marks})) AS shared "
            f"FROM {k.table} t ORDER BY trial_id", schemes))
        history: dict[str, list[dict[str, Any]]] = {}
        for change in store.rows(f"SELECT trial_id, old_value, new_value, detected_at FROM {k.changes_table} "
                                 "WHERE field = 'completion_date' ORDER BY trial_id, detected_at, id"):
            history.setdefault(change["trial_id"], []).append(change)
        for row in rows:
            if row["source"] == k.source:
                row["end_history"] = history.get(row["record_id"], [])
    return rows


def _signal_view() -> str:
    """Signals with their record's title and kind, read from the table of the source each signal names."""
    kinds = list(dict.fromkeys(KINDS.values()))
    joins = " ".join(f"LEFT JOIN {k.table} r{i} ON s.source = '{k.source}' AND r{i}.{k.key} = s.record_id" for i, k in enumerate(kinds))
    titles = ", ".join(f"r{i}.title" for i in range(len(kinds)))
    record_kind = " ".join(f"WHEN '{k.source}' THEN '{k.record_kind}'" for k in kinds)
    return f"""
SELECT s.id, s.kind, s.source, s.record_id AS id_, s.scope, s.raised_at, s.resolved_at, s.resolution, s.rank, s.summary, s.detail,
       coalesce({titles}) AS title, CASE s.source {record_kind} ELSE 'publication' END AS record_kind,
       (SELECT group_concat(query, '|') FROM (SELECT DISTINCT query FROM query_matches m WHERE m.record_id = s.record_id ORDER BY query)) AS lines
  FROM signals s {joins}
"""


SIGNAL_VIEW = _signal_view()
SIGNAL_ORDER = " ORDER BY s.rank, coalesce(json_extract(s.detail, '$.months'), 0) DESC, s.record_id, s.scope, s.raised_at"


def _signal_rows(store: Store, where: list[str], params: list[Any]) -> list[dict[str, Any]]:
    sql = SIGNAL_VIEW + (" WHERE " + " AND ".join(where) if where else "") + SIGNAL_ORDER
    rows = store.rows(sql, params)
    for row in rows:
        row["record_id"] = row.pop("id_")
        row["signal_id"] = row.pop("id")
        row["lines"] = (row["lines"] or "").split("|") if row["lines"] else []
    return rows


def select_signals(store: Store, *, kind: str | None = None, line: str | None = None, include_resolved: bool = False) -> list[dict[str, Any]]:
    """Open signals (resolved ones too with include_resolved), most serious first."""
    where, params = [], []
    if not include_resolved:
        where.append("s.resolved_at IS NULL")
    if kind:
        where.append("s.kind = ?")
        params.append(kind)
    if line:
        where.append("(s.scope = ? OR EXISTS (SELECT 1 FROM query_matches m WHERE m.query = ? AND m.record_id = s.record_id))")
        params.extend([line, line])
    return _signal_rows(store, where, params)


def select_record_signals(store: Store, record_id: str) -> list[dict[str, Any]]:
    return _signal_rows(store, ["s.record_id = ?", "s.resolved_at IS NULL"], [record_id])


def select_window_signals(store: Store, start: str, end: str) -> dict[str, list[dict[str, Any]]]:
    """Signals raised in the window and those resolved in it (the digest's "Needs attention")."""
    return {
        "raised": _signal_rows(store, ["s.raised_at >= ? AND s.raised_at < ?"], [start, end]),
        "resolved": _signal_rows(store, ["s.resolved_at >= ? AND s.resolved_at < ?"], [start, end]),
    }


def select_signal_counts(store: Store) -> dict[str, int]:
    return {r["kind"]: r["n"] for r in store.rows("SELECT kind, count(*) AS n FROM signals WHERE resolved_at IS NULL GROUP BY kind")}


def select_any_trial(store: Store, source: str | None = None) -> bool:
    """Whether any record of `source` is stored (of any trial source when None)."""
    kinds = [KINDS[source]] if source else TRIAL_KINDS
    return any(store.execute(f"SELECT EXISTS (SELECT 1 FROM {k.table})").fetchone()[0] == 1 for k in kinds)


def select_trial_ids(store: Store, source: str) -> list[str]:
    """Every stored record of a swept source, by id."""
    k = KINDS[source]
    return [r[0] for r in store.execute(f"SELECT {k.key} FROM {k.table} ORDER BY {k.key}")]


def select_line_trial_ids(store: Store, source: str, line: str) -> list[str]:
    """The stored, not removed, records of a swept source that a topic line has matched."""
    k = KINDS[source]
    return [r[0] for r in store.execute(
        f"SELECT m.record_id FROM query_matches m JOIN {k.table} t ON t.{k.key} = m.record_id "
        "WHERE m.query = ? AND m.source = ? AND t.removed_at IS NULL ORDER BY m.record_id", (line, source)
    )]


def select_last_sweep(store: Store, source: str) -> dict[str, Any] | None:
    return _one(store.rows("SELECT * FROM sweeps WHERE source = ? AND status = 'ok' ORDER BY started_at DESC, id DESC LIMIT 1", (source,)))


# -- one study, one work: records of several sources that share an identifier ------------------------

def select_sharing(store: Store, kind: str, records: list[tuple[str, str]]) -> list[tuple[str, str, str, str, str, str]]:
    """(source, record_id, other_source, other_id, scheme, value): the other stored records that carry an identity
    identifier (a trial registration, a DOI ...) one of `records` carries. Asked per source, so each record's ids are
    read by the identifiers key and each shared value through the (scheme, value) index."""
    schemes = IDENTITY_SCHEMES[kind]
    marks = ",".join("?" * len(schemes))
    found: list[tuple[str, str, str, str, str, str]] = []
    for source in dict.fromkeys(s for s, _ in records):
        ids = [r for s, r in records if s == source]
        for start in range(0, len(ids), CHUNK_IDS):
            chunk = ids[start:start + CHUNK_IDS]
            found.extend(store.execute(
                "SELECT a.source, a.record_id, b.source, b.record_id, a.scheme, a.value FROM identifiers a "
                "JOIN identifiers b ON b.scheme = a.scheme AND b.value = a.value AND NOT (b.source = a.source AND b.record_id = a.record_id) "
                f"WHERE a.source = ? AND a.record_id IN ({','.join('?' * len(chunk))}) AND a.scheme IN ({marks})",
                [source, *chunk, *schemes]).fetchall())
    return sorted(set(found))


CHUNK_IDS = 500  # ids per IN (...) list


TRIAL_COMMON = ("registry", "title", "overall_status", "registry_status", "start_date", "primary_completion_date", "completion_date",
                "enrollment", "has_results", "results_first_posted_date", "last_update_posted_date", "first_seen_at", "url",
                "removed_at")


def _common_columns(kind: Kind) -> str:
    """A trial table's columns under the names every trial table shares (a table of one registry's records, as
    CT.gov's, names its registry by its source, and its own status is the registry's)."""
    declared = kind.shape.columns or {}
    stand_ins = {"registry": f"'{kind.label}' AS registry", "registry_status": "overall_status AS registry_status"}
    return ", ".join(c if c in declared or c not in stand_ins else stand_ins[c] for c in TRIAL_COMMON)


def select_trial_summaries(store: Store, records: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The fields every registry gives (title, status as the common vocabulary and as the registry says it, dates,
    enrolment, results, URL) of stored trials of any source, by (source, id)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for source in dict.fromkeys(s for s, _ in records):
        k = KINDS[source]
        ids = [r for s, r in records if s == source]
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for row in store.rows(f"SELECT {k.key} AS record_id, {_common_columns(k)} FROM {k.table} "
                                  f"WHERE {k.key} IN ({','.join('?' * len(chunk))})", chunk):
                found[(source, row["record_id"])] = row
    return found


def select_window_registrations(store: Store, start: str, end: str) -> list[dict[str, Any]]:
    """Trials of every trial source first stored in the window, with their source, their common fields and the
    lines that matched them: the digest's new trials."""
    parts = []
    for k in TRIAL_KINDS:
        extra = "phases, lead_sponsor, enrollment_type, countries, first_posted_date, interventions"
        parts.append(f"SELECT '{k.source}' AS source, {k.key} AS record_id, {_common_columns(k)}, {extra}, "
                     f"{_lines_of(k.source, k.key)} AS queries FROM {k.table} WHERE {_in_window('first_seen_at')}")
    return store.rows(" UNION ALL ".join(parts) + " ORDER BY first_seen_at DESC, source, record_id", {"start": start, "end": end})


def select_payloads(store: Store, source: str, ids: list[str]) -> dict[str, str]:
    """The raw payloads (the service's record as received) of stored records of one source, by id."""
    kind = KINDS[source]
    found: dict[str, str] = {}
    for start in range(0, len(ids), CHUNK_IDS):
        chunk = ids[start:start + CHUNK_IDS]
        found.update(store.execute(f"SELECT {kind.key}, {kind.shape.payload} FROM {kind.table} WHERE {kind.key} IN ({','.join('?' * len(chunk))})",
                                   chunk).fetchall())
    return found


def select_window_registration_changes(store: Store, start: str, end: str) -> list[dict[str, Any]]:
    """Changes detected in the window to trials of every trial source stored before it."""
    parts = []
    for k in TRIAL_KINDS:
        parts.append(
            f"SELECT '{k.source}' AS source, c.{k.key} AS record_id, c.id, c.field, c.old_value, c.new_value, c.detected_at, "
            f"t.title, t.overall_status, t.why_stopped, t.results_first_posted_date, t.has_results, t.interventions, t.url, {_lines_of(k.source, f'c.{k.key}')} AS queries "
            f"FROM {k.changes_table} c JOIN {k.table} t ON t.{k.key} = c.{k.key} "
            f"WHERE {_in_window('c.detected_at')} AND t.first_seen_at < :start")
    return store.rows(" UNION ALL ".join(parts) + " ORDER BY detected_at DESC, source, record_id, id", {"start": start, "end": end})


# -- citation watches -------------------------------------------------------------------------------

def select_resolved_dois(store: Store, dois: list[str]) -> dict[str, str]:
    """The PMIDs anchor DOIs were resolved to before."""
    if not dois:
        return {}
    return dict(store.execute(f"SELECT doi, pmid FROM resolved_dois WHERE doi IN ({','.join('?' * len(dois))})", dois).fetchall())


def select_citations(store: Store, source: str, anchors: list[str]) -> set[tuple[str, str]]:
    """(anchor PMID, citing record) pairs already stored for a source's citation channel."""
    if not anchors:
        return set()
    return set(store.execute(
        f"SELECT value, record_id FROM links WHERE source = ? AND scheme = 'pmid' AND via = ? AND value IN ({','.join('?' * len(anchors))})",
        [source, f"{source}_cites", *anchors]).fetchall())


def select_cited_by(store: Store, source: str, record_id: str) -> dict[str, Any]:
    """How many stored papers cite a record (through any citation channel, by any id it carries), and the newest."""
    rows = store.rows(
        "SELECT DISTINCT l.source, l.record_id FROM identifiers i JOIN links l ON l.scheme = i.scheme AND l.value = i.value "
        "WHERE i.source = ? AND i.record_id = ? AND l.via LIKE '%\\_cites' ESCAPE '\\'", (source, record_id))
    citers = select_publication_summaries(store, [(r["source"], r["record_id"]) for r in rows if r["source"] in KINDS])
    newest = max(citers.items(), key=lambda item: item[1]["sort_date"] or "", default=None)
    return {"count": len(rows), "newest": {"id": newest[1]["record_id"], "title": newest[1]["title"], "sort_date": newest[1]["sort_date"],
                                           "source": newest[0][0]} if newest else None}
