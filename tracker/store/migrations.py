"""The schema: every migration of the tracker database, in order, as one sqlite-utils Migrations set.

Imports only sqlite_utils and the standard library, so sqlite-utils' own operator tool reads it:
    sqlite-utils migrate data/tracker.db tracker/store/migrations.py --list
A migration's docstring gives the measured reason for it. Never edit an applied migration; add the next one.
"""

from __future__ import annotations

import json
import re

import sqlite_utils
from sqlite_utils import Migrations

from tracker.store import tiers  # absolute: `sqlite-utils migrate` loads this file by its path
from tracker.store.derived import LINE_YEARS_BACKFILL, topic_lines_sql

migrations = Migrations("tracker")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    """Records, their change history, trial-publication links, line matches, runs, digests, claim checks, FTS5."""
    db["trials"].create(
        {
            "nct_id": str,
            "title": str,
            "official_title": str,
            "acronym": str,
            "overall_status": str,
            "why_stopped": str,
            "phases": str,
            "study_type": str,
            "enrollment": int,
            "enrollment_type": str,
            "lead_sponsor": str,
            "lead_sponsor_class": str,
            "conditions": str,
            "interventions": str,
            "countries": str,
            "start_date": str,
            "start_date_type": str,
            "primary_completion_date": str,
            "primary_completion_date_type": str,
            "completion_date": str,
            "completion_date_type": str,
            "first_posted_date": str,
            "last_update_posted_date": str,
            "results_first_posted_date": str,
            "has_results": int,
            "study_references": str,
            "url": str,
            "raw_json": str,
            "raw_hash": str,
            "first_seen_at": str,
            "updated_at": str,
        },
        pk="nct_id",
        not_null={"first_seen_at"},
    )
    db["publications"].create(
        {
            "pmid": str,
            "version": str,
            "title": str,
            "abstract": str,
            "authors": str,
            "journal": str,
            "journal_abbrev": str,
            "volume": str,
            "issue": str,
            "pages": str,
            "pub_date": str,
            "sort_date": str,
            "pub_year": int,
            "article_date": str,
            "entrez_date": str,
            "doi": str,
            "pmcid": str,
            "publication_types": str,
            "mesh_terms": str,
            "keywords": str,
            "language": str,
            "nct_ids": str,
            "is_retracted": int,
            "is_deleted": int,
            "is_book": int,
            "corrections": str,
            "raw_xml": str,
            "raw_hash": str,
            "first_seen_at": str,
            "updated_at": str,
        },
        pk="pmid",
        not_null={"first_seen_at"},
    )
    for table, record in (("trial_changes", "nct_id"), ("publication_changes", "pmid")):
        db[table].create(
            {"id": int, record: str, "field": str, "old_value": str, "new_value": str, "detected_at": str, "run_id": int},
            pk="id",
        )
        db[table].create_index([record])
        db[table].create_index(["detected_at"])
    db["trial_publications"].create(
        {"nct_id": str, "pmid": str, "source": str, "reference_type": str, "first_seen_at": str},
        pk=("nct_id", "pmid", "source"),
    )
    db["trial_publications"].create_index(["pmid"])
    db["trial_publications"].create_index(["first_seen_at"])
    db["query_matches"].create(
        {"query": str, "source": str, "record_id": str, "first_seen_at": str}, pk=("query", "source", "record_id")
    )
    db["query_matches"].create_index(["source", "record_id"])
    db["query_matches"].create_index(["first_seen_at"])
    db["runs"].create(
        {
            "id": int,
            "source": str,
            "query": str,
            "started_at": str,
            "finished_at": str,
            "status": str,
            "fetched": int,
            "new": int,
            "changed": int,
            "error": str,
            "cursor": str,
            "pid": int,
        },
        pk="id",
    )
    db["runs"].create_index(["source", "query", "status"])
    db["digests"].create(
        {"id": int, "created_at": str, "window_start": str, "window_end": str, "files": str, "summary": str}, pk="id"
    )
    db["claim_checks"].create(
        {
            "id": int,
            "claim_id": str,
            "checked_at": str,
            "verdict": str,
            "summary": str,
            "evidence": str,
            "mode": str,
        },
        pk="id",
    )
    db["claim_checks"].create_index(["claim_id", "checked_at"])
    db["trials"].create_index(["first_seen_at"])
    db["trials"].create_index(["overall_status"])
    db["trials"].create_index(["start_date"])
    db["publications"].create_index(["first_seen_at"])
    db["publications"].create_index(["sort_date"])
    db["publications"].create_index(["doi"])
    db["trials"].enable_fts(
        ["title", "official_title", "conditions", "interventions", "lead_sponsor"], create_triggers=True, tokenize="porter"
    )
    db["publications"].enable_fts(["title", "abstract", "mesh_terms", "authors"], create_triggers=True, tokenize="porter")


@migrations()
def m002_chart_indexes(db: sqlite_utils.Database) -> None:
    """Covering indexes for the digest's per-line charts: the join reads index entries instead of whole rows
    (a publication row carries its abstract and XML). At 1,000,000 publications: 8.6 s -> 0.1 s per line."""
    db.execute("CREATE INDEX IF NOT EXISTS idx_publications_chart ON publications (pmid, first_seen_at, pub_year)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_trials_chart ON trials (nct_id, first_seen_at, start_date)")


@migrations()
def m003_fewer_write_indexes(db: sqlite_utils.Database) -> None:
    """Every index is paid on each upsert. Status, start-date and publication-date filters are applied to FTS hits
    (joined by rowid) and never used these; a DOI is looked up case-insensitively, which the plain index could not serve."""
    for name in ("idx_trials_overall_status", "idx_trials_start_date", "idx_publications_sort_date", "idx_publications_doi",
                 "idx_query_matches_first_seen_at"):
        db.execute(f"DROP INDEX IF EXISTS {name}")
    db.execute("CREATE INDEX IF NOT EXISTS idx_publications_doi_nocase ON publications (doi COLLATE NOCASE)")


@migrations()
def m004_line_years(db: sqlite_utils.Database) -> None:
    """Per line, source, year and first-seen time: how many records. Kept current on every save, so a digest's
    charts read a few rows instead of joining every match of a line (1.2 s of a 1.9 s digest at full scale)."""
    db["line_years"].create(
        {"query": str, "source": str, "year": int, "first_seen_at": str, "n": int}, pk=("query", "source", "year", "first_seen_at")
    )
    db.execute(LINE_YEARS_BACKFILL)


@migrations()
def m005_drop_chart_indexes(db: sqlite_utils.Database) -> None:
    """line_years serves the charts now; the covering indexes of m002 only cost writes."""
    db.execute("DROP INDEX IF EXISTS idx_publications_chart")
    db.execute("DROP INDEX IF EXISTS idx_trials_chart")


SIGNAL_COLUMNS_BACKFILL = """
UPDATE trials SET
  results_first_submit_date = json_extract(raw_json, '$.protocolSection.statusModule.resultsFirstSubmitDate'),
  disp_first_submit_date = json_extract(raw_json, '$.protocolSection.statusModule.dispFirstSubmitDate'),
  is_fda_regulated_drug = json_extract(raw_json, '$.protocolSection.oversightModule.isFdaRegulatedDrug'),
  is_fda_regulated_device = json_extract(raw_json, '$.protocolSection.oversightModule.isFdaRegulatedDevice')
WHERE json_valid(raw_json)
"""


@migrations()
def m006_signals(db: sqlite_utils.Database) -> None:
    """Evidence signals. The fields the rules read that were not columns yet (results submitted, a certification or
    extension filed, FDA-regulated drug or device) are added and back-filled from the stored raw JSON, so no record
    is fetched again. signals keeps every signal ever raised (resolved ones get resolved_at; none is deleted);
    sweeps records each re-check of the stored trials against the registry; removed_at and unmatched_at hold what
    a sweep found (cleared when the record is seen again)."""
    for column, kind in (("results_first_submit_date", str), ("disp_first_submit_date", str),
                         ("is_fda_regulated_drug", int), ("is_fda_regulated_device", int), ("removed_at", str)):
        db["trials"].add_column(column, kind)
    db.execute(SIGNAL_COLUMNS_BACKFILL)
    db["query_matches"].add_column("unmatched_at", str)
    db["signals"].create(
        {"id": int, "kind": str, "record_id": str, "scope": str, "raised_at": str, "resolved_at": str,
         "rank": int, "summary": str, "detail": str},
        pk="id",
        not_null={"kind", "record_id", "scope", "raised_at"},
        defaults={"scope": ""},
    )
    db.execute("CREATE UNIQUE INDEX idx_signals_open ON signals (kind, record_id, scope) WHERE resolved_at IS NULL")
    db["signals"].create_index(["record_id"])
    db["sweeps"].create(
        {"id": int, "started_at": str, "finished_at": str, "status": str, "checked": int, "removed": int,
         "unmatched": int, "requests": int, "error": str},
        pk="id",
    )


def plain_list(column: str) -> str:
    """SQL: a JSON list of strings as written by the store (["a", "b"]) as plain text (a; b); NULL when empty.
    String functions only: json_each cannot run inside an FTS5 content view."""
    return (f"CASE WHEN {column} IS NULL OR {column} = '[]' THEN NULL "
            f"ELSE replace(replace(substr({column}, 3, length({column}) - 4), '\", \"', '; '), '\\\"', '\"') END")


FTS_TEXT = {  # table: its searchable columns, list columns read as plain text
    "trials": ("title", "official_title", "conditions", "interventions", "lead_sponsor"),
    "publications": ("title", "abstract", "mesh_terms", "authors"),
}
LIST_COLUMNS = frozenset({"conditions", "interventions", "mesh_terms", "authors"})


def _plain_fts(db: sqlite_utils.Database, table: str, columns: tuple[str, ...], *, index_triggers: bool = True) -> None:
    """The {table}_text view and {table}_fts index over it; index_triggers=False leaves inserts and updates to the
    write layer (m009), keeping the delete trigger."""
    def values(row: str, named: bool = False) -> str:
        return ", ".join((plain_list(f"{row}.{c}") if c in LIST_COLUMNS else f"{row}.{c}") + (f" AS {c}" if named else "") for c in columns)

    names = ", ".join(columns)
    for suffix in ("ai", "ad", "au"):
        db.execute(f"DROP TRIGGER IF EXISTS {table}_{suffix}")
    db.execute(f"DROP TABLE IF EXISTS {table}_fts")
    db.execute(f"DROP VIEW IF EXISTS {table}_text")
    db.execute(f"CREATE VIEW {table}_text AS SELECT {table}.rowid AS text_rowid, {values(table, named=True)} FROM {table}")
    db.execute(f"CREATE VIRTUAL TABLE {table}_fts USING fts5({names}, content='{table}_text', content_rowid='text_rowid', tokenize='porter')")
    insert = f"INSERT INTO {table}_fts (rowid, {names}) VALUES (new.rowid, {values('new')});"
    delete = f"INSERT INTO {table}_fts ({table}_fts, rowid, {names}) VALUES ('delete', old.rowid, {values('old')});"
    db.execute(f"CREATE TRIGGER {table}_ad AFTER DELETE ON {table} BEGIN {delete} END")
    if index_triggers:
        db.execute(f"CREATE TRIGGER {table}_ai AFTER INSERT ON {table} BEGIN {insert} END")
        db.execute(f"CREATE TRIGGER {table}_au AFTER UPDATE OF {names} ON {table} BEGIN {delete} {insert} END")
    db.execute(f"INSERT INTO {table}_fts ({table}_fts) VALUES ('rebuild')")


@migrations()
def m007_plain_text_search(db: sqlite_utils.Database) -> None:
    """Full-text search over plain text: list columns (conditions, interventions, MeSH terms, authors) are indexed and
    shown in snippets as "a; b", not as the JSON the table keeps. The index reads a view ({table}_text) that spells
    them out, so the text is not stored twice; triggers keep it current as before, and only when a searchable column
    is written (sqlite-utils' triggers re-indexed a record for any update, a sweep's removed_at included).
    (m009 hands inserts and updates to the write layer.)"""
    for table, columns in FTS_TEXT.items():
        _plain_fts(db, table, columns)


TOPIC_LINES = (("trials", "ctgov", "nct_id"), ("publications", "pubmed", "pmid"))


MATCH_EVENTS = (("INSERT", "new"), ("UPDATE OF unmatched_at", "new"), ("DELETE", "old"))


def _topic_lines_triggers(db: sqlite_utils.Database, *, only_when_different: bool, tables=TOPIC_LINES) -> None:
    """The query_matches triggers that keep each record's topic_lines in step (m008; m011 adds the condition), for
    each (table, source, key) of `tables`."""
    for table, source, key in tables:
        for event, row in MATCH_EVENTS:
            name = f"query_matches_{source}_{event.split()[0].lower()}"
            lines = topic_lines_sql(source, f"{row}.record_id")
            condition = f" AND topic_lines IS NOT {lines}" if only_when_different else ""
            db.execute(f"DROP TRIGGER IF EXISTS {name}")
            db.execute(f"CREATE TRIGGER {name} AFTER {event} ON query_matches WHEN {row}.source = '{source}' BEGIN "
                       f"UPDATE {table} SET topic_lines = {lines} WHERE {key} = {row}.record_id{condition}; END")


@migrations()
def m008_topic_lines(db: sqlite_utils.Database) -> None:
    """topic_lines on trials and publications: the topic lines that return the record today, as a JSON list, so
    Datasette can facet on it. query_matches stays the truth: a save writes a line's matches first and computes the
    list in the record's own upsert; triggers on query_matches keep it current when a stored record gains or loses a
    line without being rewritten (a new line, a sweep's unmatched_at). The back-fill fills it for stored records.
    (Triggers alone rewrote each new trial's whole row, raw JSON included, once more: ingest went 1.7x -> 1.9x the floor.)"""
    for table, source, key in TOPIC_LINES:
        db[table].add_column("topic_lines", str)
        db.execute(f"UPDATE {table} SET topic_lines = {topic_lines_sql(source, f'{table}.{key}')}")
    _topic_lines_triggers(db, only_when_different=False)


@migrations()
def m009_index_text_in_bulk(db: sqlite_utils.Database) -> None:
    """The write layer indexes new and rewritten records in one statement per batch (store/writes.py, save_text_index):
    the per-row insert and update triggers made the FTS5 index cost 3-4x its bare price (10,000 trials: upsert
    0.45 s with the trigger, 0.28 s with one bulk insert after it; publications 1.05 s against 0.55 s). The delete
    trigger stays: the tracker never deletes a record, and an operator's DELETE keeps the index true."""
    for table in FTS_TEXT:
        for suffix in ("ai", "au"):
            db.execute(f"DROP TRIGGER IF EXISTS {table}_{suffix}")


@migrations()
def m010_merged_records(db: sqlite_utils.Database) -> None:
    """merged_into on trials: the NCT number a stored trial's number now leads to, when a registry sweep asked for it
    and ClinicalTrials.gov answered with another record (the old number is an alias: the records were merged, not
    removed). Cleared when the number answers as itself again."""
    db["trials"].add_column("merged_into", str)


@migrations()
def m011_topic_lines_written_once(db: sqlite_utils.Database) -> None:
    """The topic_lines triggers rewrite a row only when its list differs. A save now writes a changed record that
    a line newly returns with its list already including that line, then the match; the trigger finds nothing to
    change, where before it rewrote the whole row (raw payload included) a second time."""
    _topic_lines_triggers(db, only_when_different=True)


@migrations()
def m012_run_shortfalls(db: sqlite_utils.Database) -> None:
    """shortfall on runs: records a service counted for a line and never returned although the run finished (an
    efetch answering short, CT.gov pages ending before their count), so the digest can say it is incomplete."""
    db["runs"].add_column("shortfall", str)


@migrations()
def m013_signal_resolutions(db: sqlite_utils.Database) -> None:
    """resolution on signals: why a signal stopped being raised, in words, written when it resolves ("results posted
    on 12 Nov 2026", "primary completion date now Mar 2028"): a resolved overdue signal is not always good news."""
    db["signals"].add_column("resolution", str)


@migrations()
def m014_raw_hash_xxh3(db: sqlite_utils.Database) -> None:
    """raw_hash becomes xxh3-128 of the raw payload (it was blake2b-128): hashing 270 MB of PubMed XML, what 10,000
    articles bring, took 0.40 s with blake2b and 0.03 s with xxh3 (4 % of the whole ingest). Every stored hash is
    recomputed the way a save computes it (a deleted article's over 'deleted:' and its XML), so no stored record
    reads as changed and is rewritten on its next fetch."""
    import xxhash  # a tracker dependency; imported here so sqlite-utils' migrate tool can still list this file

    db.conn.create_function("tracker_xxh3", 1, lambda text: xxhash.xxh3_128_hexdigest(text.encode("utf-8")), deterministic=True)
    db.execute("UPDATE trials SET raw_hash = tracker_xxh3(raw_json) WHERE raw_json IS NOT NULL")
    db.execute("UPDATE publications SET raw_hash = tracker_xxh3(CASE WHEN is_deleted THEN 'deleted:' || coalesce(raw_xml, '') "
               "ELSE raw_xml END) WHERE raw_xml IS NOT NULL OR is_deleted")


@migrations()
def m015_digest_incomplete_lines(db: sqlite_utils.Database) -> None:
    """incomplete_lines on digests: the topic lines (a JSON list of names) whose update in the window failed, came
    back short or did not run, so a feed entry's title can say "(incomplete)" as the e-mail subject does; a feed
    reader shows titles first. Digests written before are read from their summary's closing sentence, "Not complete:
    LINE [source] status; ...", which every incomplete digest carried."""
    db["digests"].add_column("incomplete_lines", str)
    for digest_id, summary in list(db.execute("SELECT id, summary FROM digests").fetchall()):
        found = re.search(r" Not complete: (.*)\.$", summary or "")
        names = sorted({item.split(" [", 1)[0] for item in found.group(1).split("; ")}) if found else []
        db.execute("UPDATE digests SET incomplete_lines = ? WHERE id = ?", (json.dumps(names), digest_id))


PAYLOAD_COLUMNS = {"trials": "raw_json", "publications": "raw_xml"}  # kept last in their tables (m016)


@migrations()
def m016_payload_columns_last(db: sqlite_utils.Database) -> None:
    """The raw payload becomes the last column of trials and publications. SQLite reads a column stored after a long
    value by walking that value's overflow pages, and the columns added since m001 (topic_lines, removed_at,
    first_seen_at's neighbours) had landed after it: with real-size records (CT.gov studies 17.7 kB, PubMed articles
    27 kB mean), reading first_seen_at or topic_lines of 2,000 stored rows took 10 and 16 ms against 3.5 ms for the
    title, and every digest, search listing, signal refresh and save reads them. The tables are rebuilt with their
    rowids (the text indexes are keyed by them); views and triggers are made again as they were. A later migration
    that adds a column puts it after the payload again: rebuild as here (a test checks the order)."""
    for table, payload in PAYLOAD_COLUMNS.items():
        _rebuild_with_payload_last(db, table, payload)


def _rebuild_with_payload_last(db: sqlite_utils.Database, table: str, payload: str) -> None:
    """SQLite's own recipe for a schema change ALTER TABLE cannot make: a new table, the rows copied with their
    rowids, the old one dropped, the new one renamed; the table's indexes, and every view and trigger (they may name
    it), saved first and made again after."""
    conn = db.conn
    columns = conn.execute(f'PRAGMA table_info("{table}")').fetchall()  # cid, name, type, notnull, default, pk
    if not columns or columns[-1][1] == payload:
        return
    ordered = [c for c in columns if c[1] != payload] + [c for c in columns if c[1] == payload]
    saved = [sql for (sql,) in conn.execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND (type IN ('view', 'trigger') OR (type = 'index' AND tbl_name = ?)) "
        "ORDER BY type = 'index' DESC, type = 'view' DESC",  # indexes, then views, then the triggers that may read them
        (table,),
    ).fetchall()]
    for kind, name in conn.execute("SELECT type, name FROM sqlite_master WHERE type IN ('view', 'trigger')").fetchall():
        conn.execute(f'DROP {kind.upper()} "{name}"')
    definitions = ", ".join(
        f'"{name}" {type_}' + (" PRIMARY KEY" if pk else "") + (" NOT NULL" if notnull else "") + (f" DEFAULT {default}" if default is not None else "")
        for _, name, type_, notnull, default, pk in ordered
    )
    names = ", ".join(f'"{c[1]}"' for c in ordered)
    conn.execute(f'CREATE TABLE "{table}_rebuilt" ({definitions})')
    conn.execute(f'INSERT INTO "{table}_rebuilt" (rowid, {names}) SELECT rowid, {names} FROM "{table}"')
    conn.execute(f'DROP TABLE "{table}"')
    conn.execute(f'ALTER TABLE "{table}_rebuilt" RENAME TO "{table}"')
    for sql in saved:
        conn.execute(sql)


LINKS_FROM_TRIAL_PUBLICATIONS = """
INSERT OR IGNORE INTO links (source, record_id, scheme, value, via, detail, first_seen_at)
SELECT CASE WHEN source = 'ctgov_reference' THEN 'ctgov' ELSE 'pubmed' END,
       CASE WHEN source = 'ctgov_reference' THEN nct_id ELSE pmid END,
       CASE WHEN source = 'ctgov_reference' THEN 'pmid' ELSE 'nct' END,
       CASE WHEN source = 'ctgov_reference' THEN pmid ELSE nct_id END,
       source, reference_type, first_seen_at
  FROM trial_publications_table
"""
# The old table's rows, read back from links: a study citing a PMID, a paper naming an NCT number.
TRIAL_PUBLICATIONS_VIEW = """
CREATE VIEW trial_publications AS
SELECT record_id AS nct_id, value AS pmid, via AS source, detail AS reference_type, first_seen_at
  FROM links WHERE source = 'ctgov' AND scheme = 'pmid'
UNION ALL
SELECT value AS nct_id, record_id AS pmid, via AS source, detail AS reference_type, first_seen_at
  FROM links WHERE source = 'pubmed' AND scheme = 'nct'
"""
CHANGES_VIEW = """
CREATE VIEW changes AS
SELECT 'ctgov' AS source, nct_id AS record_id, id, field, old_value, new_value, detected_at, run_id FROM trial_changes
UNION ALL
SELECT 'pubmed' AS source, pmid AS record_id, id, field, old_value, new_value, detected_at, run_id FROM publication_changes
"""


@migrations()
def m017_identifiers_and_links(db: sqlite_utils.Database) -> None:
    """Many sources, one identity. identifiers holds every id a record carries (its own; a CT.gov study's aliases and
    secondary ids: EudraCT, EU CT, ISRCTN, jRCT, UMIN, ChiCTR ...; an article's DOI and PMCID), so a record of any
    source is found by any of its ids and two registries' records of one study can be told apart from two studies.
    links replaces trial_publications: a record names an identifier (scheme, value), not a row, so a paper naming
    NCT0... links to every stored record carrying that number, whichever registry it came from. trial_publications
    stays readable as a view of links with the same columns and rows; changes is one view of every change history;
    signals and sweeps gain their source. Identifiers and the registrations papers name in their DataBankList beyond
    ClinicalTrials.gov are back-filled from the stored payloads, so nothing is fetched again."""
    from ..sources import SOURCES  # the sources' own readers of a stored row; imported here so sqlite-utils' migrate tool can list this file

    conn = db.conn
    # WITHOUT ROWID: the key is the row (one b-tree, not a table and its key's index), which a save writes per id
    conn.execute("CREATE TABLE identifiers (source TEXT NOT NULL, record_id TEXT NOT NULL, scheme TEXT NOT NULL, value TEXT NOT NULL, "
                 "via TEXT NOT NULL, PRIMARY KEY (source, record_id, scheme, value)) WITHOUT ROWID")
    db["identifiers"].create_index(["scheme", "value"])
    conn.execute("CREATE TABLE links (source TEXT NOT NULL, record_id TEXT NOT NULL, scheme TEXT NOT NULL, value TEXT NOT NULL, "
                 "via TEXT NOT NULL, detail TEXT, first_seen_at TEXT, PRIMARY KEY (source, record_id, scheme, value, via)) WITHOUT ROWID")
    db["links"].create_index(["scheme", "value", "source"])
    db["links"].create_index(["first_seen_at"])
    conn.execute("ALTER TABLE trial_publications RENAME TO trial_publications_table")
    conn.execute(LINKS_FROM_TRIAL_PUBLICATIONS)
    conn.execute("DROP TABLE trial_publications_table")
    conn.execute(TRIAL_PUBLICATIONS_VIEW)
    conn.execute(CHANGES_VIEW)

    found, named = [], []
    for source in SOURCES.values():
        shape = source.shape
        if not db[shape.table].exists():  # a source added later: its own migrations make its table, empty
            continue
        cursor = conn.execute(f"SELECT * FROM {shape.table}")
        columns = [d[0] for d in cursor.description]
        for values in cursor:
            row = dict(zip(columns, values))
            identifiers, links = shape.backfill(row)
            found.extend((source.name, row[shape.key], *item) for item in identifiers)
            named.extend((source.name, row[shape.key], *link, row["first_seen_at"]) for link in links)
    conn.executemany("INSERT OR IGNORE INTO identifiers (source, record_id, scheme, value, via) VALUES (?, ?, ?, ?, ?)", found)
    conn.executemany("INSERT OR IGNORE INTO links (source, record_id, scheme, value, via, detail, first_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)", named)

    db["sweeps"].add_column("source", str)
    conn.execute("UPDATE sweeps SET source = 'ctgov'")  # the only source a sweep asked until now
    db["signals"].add_column("source", str)
    conn.execute("UPDATE signals SET source = CASE WHEN EXISTS (SELECT 1 FROM trials t WHERE t.nct_id = signals.record_id) "
                 "THEN 'ctgov' ELSE 'pubmed' END")


def declared_table(db: sqlite_utils.Database, *, source: str, table: str, key: str, columns: dict[str, type],
                   changes_table: str, text_columns: tuple[str, ...]) -> None:
    """A source's records table as its shape declares it, with what every records table has: its change history,
    its plain-text search index (filled by the write layer, m009), its topic_lines kept by the query_matches triggers
    (m008, m011), and its changes in the `changes` view. A source's own migration set calls it (store/tables.py)."""
    db[table].create(columns, pk=key, not_null={"first_seen_at"})
    db[table].create_index(["first_seen_at"])
    db[changes_table].create(
        {"id": int, key: str, "field": str, "old_value": str, "new_value": str, "detected_at": str, "run_id": int}, pk="id")
    db[changes_table].create_index([key])
    db[changes_table].create_index(["detected_at"])
    _plain_fts(db, table, text_columns, index_triggers=False)
    tiers.create(db, table, text_columns)
    _topic_lines_triggers(db, only_when_different=True, tables=((table, source, key),))
    view = db.execute("SELECT sql FROM sqlite_master WHERE type = 'view' AND name = 'changes'").fetchone()
    part = (f"SELECT '{source}' AS source, {key} AS record_id, id, field, old_value, new_value, detected_at, run_id "
            f"FROM {changes_table}")
    db.execute("DROP VIEW IF EXISTS changes")
    db.execute((view[0] + "\nUNION ALL\n" + part) if view else f"CREATE VIEW changes AS {part}")


@migrations()
def m018_resolved_dois(db: sqlite_utils.Database) -> None:
    """resolved_dois: an anchor paper a topic line names by DOI (`cites = ["doi:..."]`), resolved to its PMID
    through esearch once and remembered, so each update asks PubMed only about new anchors."""
    db["resolved_dois"].create({"doi": str, "pmid": str, "resolved_at": str}, pk="doi")


@migrations()
def m019_digest_stems_and_ad_hoc(db: sqlite_utils.Database) -> None:
    """file_stem on digests: the name its files carry, so two windows ending the same day never share one (the
    second gets the end's time) and the feeds link each entry to its own page; ad_hoc: a digest of a window the user
    chose (--since/--until), written and kept but never moving the scheduled digests' window. Digests written before
    carry the name they were written under."""
    db["digests"].add_column("file_stem", str)
    db["digests"].add_column("ad_hoc", int, not_null_default=0)
    db.execute("UPDATE digests SET file_stem = 'digest-' || substr(window_end, 1, 10)")


@migrations()
def m020_runs_drift(db: sqlite_utils.Database) -> None:
    """drift on runs: the records whose fields came in a form the source's parser does not document (a schema change
    upstream), as JSON {records, named, fields}; NULL when none did. The digest says them the week they happen."""
    db["runs"].add_column("drift", str)


@migrations()
def m021_recent_search_tier(db: sqlite_utils.Database) -> None:
    """Every text index gets its newest tier (store/tiers.py): search p95 over 600,000 trials and 1,000,000 papers
    was 41 ms, 80 % of it bm25 counting common words over whole doclists. A source's table made later gets its tier
    from declared_table."""
    _tiers_made(db)


@migrations()
def m022_search_tier_generations_overlap(db: sqlite_utils.Database) -> None:
    """Every newest tier made again with overlapping generations (store/tiers.py), one of which a search ranks in:
    the disjoint two, ranked each on its own and merged by score, scored a topic's newest records with their
    generation's own word counts, and a word in all of them scored next to nothing."""
    _tiers_made(db)


def _tiers_made(db: sqlite_utils.Database) -> None:
    """Every text index's newest tier made anew from its table's text (store/tiers.py)."""
    for (view,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'view' AND name LIKE '%\\_text' ESCAPE '\\'").fetchall():
        table = view[: -len("_text")]
        if db[table].exists() and db[f"{table}_fts"].exists():
            columns = tuple(c for c in db[view].columns_dict if c != "text_rowid")
            tiers.create(db, table, columns)
