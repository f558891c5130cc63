"""The write layer on a temporary database (whole rows, the *_changes a second save produces), every migration
upgrading a database that already holds rows, and the store's promises under concurrency and failure."""

from __future__ import annotations

import copy
import hashlib
import sqlite3
import threading
from datetime import datetime, timezone

import pytest
import sqlite_utils
from click.testing import CliRunner

from tracker.cli import cli
from tracker.sources import ctgov, pubmed
from tracker.search import search_local
from tracker.sources.ctgov import trial_row
from tracker.sources.pubmed import publication_row
from tracker.store import (
    KINDS,
    Store,
    open_store,
    save_records,
    save_run_start,
    select_changes,
    select_last_cursor,
)
from tracker.store.migrations import PAYLOAD_COLUMNS, migrations
from tracker.store.writes import save_matches

from .conftest import NOW, real_studies, write_query
from .test_pubmed import real_articles

LATER = datetime(2026, 12, 1, 6, 0, tzinfo=timezone.utc)


def all_rows(store, sql, params=()):
    cursor = store.db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r)) for r in cursor.fetchall()]


def article_xml(articles: list[str]) -> bytes:
    return ("<?xml version=\"1.0\" ?>\n<PubmedArticleSet>\n" + "\n".join(articles) + "\n</PubmedArticleSet>\n").encode()


# -- the write layer -------------------------------------------------------------------------------

def test_save_trials_stores_whole_rows_then_records_each_tracked_change(tmp_path):
    studies = real_studies()
    trials = [ctgov.parse_study(s) for s in studies]
    with open_store(tmp_path / "t.db") as store:
        with store.transaction():
            result = save_records(store, "ctgov", trials, query="line-a", run_id=1, now=NOW)
        assert (result.fetched, result.new, result.changed) == (len(trials), len(trials), 0)
        stamp = "2026-11-24T06:00:00Z"
        stored = {r["nct_id"]: r for r in all_rows(store, "SELECT * FROM trials")}
        assert stored == {t.nct_id: {**trial_row(t), "first_seen_at": stamp, "updated_at": stamp, "removed_at": None, "merged_into": None, "topic_lines": '["line-a"]'} for t in trials}

        # the registry edits one study: status, completion date and results
        index = next(i for i, s in enumerate(studies) if "statusModule" in s["protocolSection"])
        edited = copy.deepcopy(studies[index])
        status = edited["protocolSection"]["statusModule"]
        old_status = status.get("overallStatus")
        old_completion = (status.get("primaryCompletionDateStruct") or {}).get("date")
        status["overallStatus"] = "TERMINATED" if old_status != "TERMINATED" else "COMPLETED"
        status["whyStopped"] = "Sponsor decision"
        status["primaryCompletionDateStruct"] = {"date": "2031-01-15", "type": "ESTIMATED"}
        trial = ctgov.parse_study(edited)
        with store.transaction():
            again = save_records(store, "ctgov", [trial if i == index else t for i, t in enumerate(trials)], query="line-a", run_id=2, now=LATER)
        assert (again.new, again.changed) == (0, 1)
        later = "2026-12-01T06:00:00Z"
        assert all_rows(store, "SELECT * FROM trials WHERE nct_id = ?", (trial.nct_id,)) == [
            {**trial_row(trial), "first_seen_at": stamp, "updated_at": later, "removed_at": None, "merged_into": None, "topic_lines": '["line-a"]'}
        ]
        changes = [{k: c[k] for k in ("nct_id", "field", "old_value", "new_value", "detected_at", "run_id")}
                   for c in reversed(select_changes(store, "trials", trial.nct_id))]
        expected = [
            {"nct_id": trial.nct_id, "field": "overall_status", "old_value": old_status, "new_value": status["overallStatus"]},
            {"nct_id": trial.nct_id, "field": "why_stopped", "old_value": trials[index].why_stopped, "new_value": "Sponsor decision"},
            {"nct_id": trial.nct_id, "field": "primary_completion_date", "old_value": old_completion, "new_value": "2031-01-15"},
        ]
        assert changes == [{**e, "detected_at": later, "run_id": 2} for e in expected if e["old_value"] != e["new_value"]]
        assert all_rows(store, "SELECT count(*) AS n FROM trial_changes") == [{"n": len(changes)}]

        # topic_lines follows query_matches: an unchanged record gains a second line, a line stops returning one
        other = trials[(index + 1) % len(trials)]
        with store.transaction():
            save_records(store, "ctgov", [other], query="line-b", run_id=3, now=LATER)
            store.execute("UPDATE query_matches SET unmatched_at = ? WHERE query = 'line-a' AND record_id = ?", (later, other.nct_id))
        lines = dict((r["nct_id"], r["topic_lines"]) for r in all_rows(store, "SELECT nct_id, topic_lines FROM trials"))
        assert lines[other.nct_id] == '["line-b"]' and lines[trial.nct_id] == '["line-a"]'
        with store.transaction():
            store.execute("UPDATE query_matches SET unmatched_at = NULL WHERE record_id = ?", (other.nct_id,))
        assert all_rows(store, "SELECT topic_lines FROM trials WHERE nct_id = ?", (other.nct_id,)) == [{"topic_lines": '["line-a","line-b"]'}]  # json_group_array's compact form


def test_a_changed_record_a_line_newly_returns_is_written_once_with_both_lines(tmp_path):
    studies = real_studies()
    trials = [ctgov.parse_study(s) for s in studies]
    with open_store(tmp_path / "t.db") as store:
        with store.transaction():
            save_records(store, "ctgov", trials, query="line-a", run_id=1, now=NOW)
        store.execute("CREATE TEMP TABLE writes (nct_id TEXT)")
        store.execute("CREATE TEMP TRIGGER count_writes AFTER UPDATE ON trials BEGIN INSERT INTO writes VALUES (new.nct_id); END")
        edited = copy.deepcopy(studies[0])
        edited["protocolSection"].setdefault("statusModule", {})["overallStatus"] = "SUSPENDED"
        changed, unchanged = ctgov.parse_study(edited), trials[1]
        with store.transaction():
            save_records(store, "ctgov", [changed, unchanged], query="line-b", run_id=2, now=LATER)
        writes = [r["nct_id"] for r in all_rows(store, "SELECT nct_id FROM writes")]
        assert sorted(writes) == sorted([changed.nct_id, unchanged.nct_id])  # each row once: the upsert, the trigger
        lines = {r["nct_id"]: r["topic_lines"] for r in all_rows(store, "SELECT nct_id, topic_lines FROM trials WHERE nct_id IN (?, ?)", (changed.nct_id, unchanged.nct_id))}
        assert lines == {changed.nct_id: '["line-a","line-b"]', unchanged.nct_id: '["line-a","line-b"]'}
        # a line a sweep had marked gone returns a changed record: the list regains it, the row is still written once
        store.execute("UPDATE query_matches SET unmatched_at = ? WHERE query = 'line-b' AND record_id = ?", ("2026-11-30T06:00:00Z", changed.nct_id))
        store.execute("DELETE FROM writes")
        edited["protocolSection"]["statusModule"]["overallStatus"] = "WITHDRAWN"
        with store.transaction():
            save_records(store, "ctgov", [ctgov.parse_study(edited)], query="line-b", run_id=3, now=LATER)
        assert [r["nct_id"] for r in all_rows(store, "SELECT nct_id FROM writes")] == [changed.nct_id]
        assert all_rows(store, "SELECT topic_lines FROM trials WHERE nct_id = ?", (changed.nct_id,)) == [{"topic_lines": '["line-a","line-b"]'}]


def test_save_publications_stores_whole_rows_and_a_retraction_as_a_change(tmp_path):
    articles = real_articles()[:40]
    pubs = pubmed.parse_pubmed_xml(article_xml(articles))
    with open_store(tmp_path / "p.db") as store:
        with store.transaction():
            save_records(store, "pubmed", pubs, query="line-p", run_id=1, now=NOW)
        stamp = "2026-11-24T06:00:00Z"
        stored = {r["pmid"]: r for r in all_rows(store, "SELECT * FROM publications")}
        assert stored == {p.pmid: {**publication_row(p), "first_seen_at": stamp, "updated_at": stamp, "topic_lines": '["line-p"]'} for p in pubs}

        index = next(i for i, p in enumerate(pubs) if not p.is_retracted and "<CommentsCorrectionsList>" not in articles[i])
        target = pubs[index]
        retracted = articles[index].replace(
            "</MedlineCitation>",
            '<CommentsCorrectionsList><CommentsCorrections RefType="RetractionIn"><RefSource>J X. 2026</RefSource>'
            '<PMID Version="1">99000002</PMID></CommentsCorrections></CommentsCorrectionsList></MedlineCitation>',
        )
        [changed] = pubmed.parse_pubmed_xml(article_xml([retracted]))
        with store.transaction():
            result = save_records(store, "pubmed", [changed], query="line-p", run_id=2, now=LATER)
        assert (result.new, result.changed) == (0, 1)
        rows = [{k: c[k] for k in ("pmid", "field", "old_value", "new_value", "run_id")}
                for c in reversed(select_changes(store, "publications", target.pmid))]
        assert rows == [
            {"pmid": target.pmid, "field": "is_retracted", "old_value": "false", "new_value": "true", "run_id": 2},
            {"pmid": target.pmid, "field": "corrections", "old_value": None, "new_value": "RetractionIn 99000002", "run_id": 2},
        ]


# -- migrations ------------------------------------------------------------------------------------

def test_a_database_made_at_m001_with_rows_upgrades_to_the_latest_intact(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m002_chart_indexes")
    assert [m.name for m in migrations.applied(db)] == ["m001_initial"]
    trials = [ctgov.parse_study(s) for s in real_studies()]
    stamp = "2026-01-05T06:00:00Z"
    m001_columns = set(db["trials"].columns_dict)
    db["trials"].insert_all([{k: v for k, v in {**trial_row(t), "first_seen_at": stamp, "updated_at": stamp}.items() if k in m001_columns}
                             for t in trials])
    db["query_matches"].insert_all([{"query": "old-line", "source": "ctgov", "record_id": t.nct_id, "first_seen_at": stamp} for t in trials])
    db["runs"].insert({"source": "ctgov", "query": "old-line", "started_at": stamp, "finished_at": stamp, "status": "ok",
                       "fetched": len(trials), "new": len(trials), "changed": 0, "cursor": "2026-01-05"})
    db.close()

    with open_store(path) as store:
        assert [m.name for m in migrations.applied(store.db)] == [m.name for m in migrations._migrations]
        assert all_rows(store, "SELECT count(*) AS n FROM trials") == [{"n": len(trials)}]
        assert select_last_cursor(store, "ctgov", "old-line") == "2026-01-05"
        # the per-line year counts were back-filled from the old rows, and full-text search still finds them
        years = sum(r["n"] for r in all_rows(store, "SELECT n FROM line_years WHERE query = 'old-line'"))
        assert years == len(trials)
        word = trials[0].title.split()[0]
        hits = all_rows(store, "SELECT rowid FROM trials_fts WHERE trials_fts MATCH ?", (f'"{word}"',))
        assert hits
        # m006 back-filled the columns the signals read from each row's raw JSON
        backfilled = all_rows(store, "SELECT nct_id, results_first_submit_date, disp_first_submit_date, is_fda_regulated_drug, "
                                     "is_fda_regulated_device FROM trials ORDER BY nct_id")
        assert backfilled == sorted(({k: v for k, v in trial_row(t).items() if k in backfilled[0]} for t in trials), key=lambda r: r["nct_id"])
        assert any(r["is_fda_regulated_drug"] is not None for r in backfilled)
        # m007 re-indexed the old rows over plain text; m008 back-filled each record's topic lines
        listed = next(t for t in trials if len(t.conditions) >= 2)
        assert all_rows(store, "SELECT conditions FROM trials_text WHERE text_rowid = (SELECT rowid FROM trials WHERE nct_id = ?)",
                        (listed.nct_id,)) == [{"conditions": "; ".join(listed.conditions)}]
        assert {r["topic_lines"] for r in all_rows(store, "SELECT topic_lines FROM trials")} == {'["old-line"]'}
        # and a save on the upgraded database works as on a new one
        with store.transaction():
            result = save_records(store, "ctgov", trials[:3], query="old-line", run_id=None, now=NOW)
        assert (result.new, result.changed) == (0, 0)


def test_m014_rehashes_stored_records_so_fetching_them_unchanged_rewrites_nothing(tmp_path, caplog):
    path = tmp_path / "m013.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m014_raw_hash_xxh3")
    trials = [ctgov.parse_study(s) for s in real_studies()][:20]
    pubs = pubmed.parse_pubmed_xml(article_xml(real_articles()[:10]))
    gone = pubs[0]  # stored, then deleted by PubMed: its hash is over 'deleted:' and the XML it had

    def blake2b(text: str) -> str:  # what raw_hash was before m014
        return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()

    stamp = "2026-01-05T06:00:00Z"
    db["trials"].insert_all([{**trial_row(t), "raw_hash": blake2b(t.raw_json), "first_seen_at": stamp, "updated_at": stamp} for t in trials])
    db["publications"].insert_all([
        {**publication_row(p), "raw_hash": blake2b(p.raw_xml), "first_seen_at": stamp, "updated_at": stamp} for p in pubs[1:]
    ] + [{**publication_row(gone), "is_deleted": 1, "raw_hash": blake2b(f"deleted:{gone.raw_xml}"), "first_seen_at": stamp, "updated_at": stamp}])
    db.close()

    with caplog.at_level("INFO", logger="tracker.store"), open_store(path) as store:
        assert f"upgrading the database {path}: m014_raw_hash_xxh3" in caplog.text  # said before it starts
        with store.transaction():
            saved_trials = save_records(store, "ctgov", trials, query="line", run_id=None, now=LATER)
            deletion = pubmed.Publication(pmid=gone.pmid, is_deleted=True, raw_xml=f"<DeleteCitation><PMID>{gone.pmid}</PMID></DeleteCitation>")
            saved_pubs = save_records(store, "pubmed", [*pubs[1:], deletion], query="line", run_id=None, now=LATER)
        assert (saved_trials.new, saved_trials.changed, saved_pubs.new, saved_pubs.changed) == (0, 0, 0, 0)
        # a record whose stored hash did not match would have been rewritten with the later updated_at
        assert {r["updated_at"] for r in all_rows(store, "SELECT updated_at FROM trials UNION ALL SELECT updated_at FROM publications")} == {stamp}
        assert all_rows(store, "SELECT is_deleted FROM publications WHERE pmid = ?", (gone.pmid,)) == [{"is_deleted": 1}]


def test_m015_reads_which_lines_an_earlier_digest_lacked_from_its_summary(tmp_path):
    path = tmp_path / "m014.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m015_digest_incomplete_lines")
    window = {"created_at": "2026-11-24T07:00:00Z", "window_start": "2026-11-17T07:00:00Z", "files": "[]"}
    db["digests"].insert_all([
        {**window, "window_end": "2026-11-24T07:00:00Z", "summary": "1 new trial, 0 changed trials. Not complete: hfsc-aging [pubmed] failed; "
                                                                     "ipsc-follicle [ctgov] short; hfsc-aging [ctgov] not updated."},
        {**window, "window_end": "2026-11-25T07:00:00Z", "summary": "A quiet week: no new or changed trials, no new publications."},
    ])
    db.close()
    with open_store(path) as store:
        assert all_rows(store, "SELECT window_end, incomplete_lines FROM digests ORDER BY window_end") == [
            {"window_end": "2026-11-24T07:00:00Z", "incomplete_lines": '["hfsc-aging", "ipsc-follicle"]'},
            {"window_end": "2026-11-25T07:00:00Z", "incomplete_lines": "[]"},
        ]


def test_m016_puts_the_payload_last_and_keeps_every_row_its_rowid_its_text_index_and_the_triggers(tmp_path):
    path = tmp_path / "m015.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m016_payload_columns_last")
    # today's writer also keeps identifiers and links (m017): their tables, empty, so it can write rows at m015
    db["identifiers"].create({"source": str, "record_id": str, "scheme": str, "value": str, "via": str}, pk=("source", "record_id", "scheme", "value"))
    db["links"].create({"source": str, "record_id": str, "scheme": str, "value": str, "via": str, "detail": str, "first_seen_at": str},
                       pk=("source", "record_id", "scheme", "value", "via"))
    from tracker.store.migrations import FTS_TEXT

    for table, columns in FTS_TEXT.items():  # ... and the newest search tier (m021)
        for name in (f"{table}_newest_a", f"{table}_newest_b"):
            db.execute(f"CREATE VIRTUAL TABLE {name} USING fts5({', '.join(columns)}, tokenize='porter')")
    db.close()
    trials = [ctgov.parse_study(s) for s in real_studies()]
    pubs = pubmed.parse_pubmed_xml(article_xml(real_articles()[:30]))
    with Store.over(sqlite3.connect(path), path) as store, store.transaction():  # saved as a save did at m015
        save_records(store, "ctgov", trials, query="line", run_id=None, now=NOW)
        save_records(store, "pubmed", pubs, query="line", run_id=None, now=NOW)
    conn = sqlite3.connect(path)
    with conn:  # gaps in the rowids: a copy that numbered the rows afresh would part them from their text index
        conn.execute("DROP TABLE identifiers")  # as at m015; m017 makes them again from the stored payloads
        conn.execute("DROP TABLE links")
        for name in ("trials_newest_a", "trials_newest_b", "publications_newest_a", "publications_newest_b"):
            conn.execute(f"DROP TABLE {name}")
        conn.execute("DELETE FROM trials WHERE rowid IN (1, 4)")
        conn.execute("DELETE FROM publications WHERE rowid = 2")
    before = {t: conn.execute(f"SELECT rowid, * FROM {t} ORDER BY rowid").fetchall() for t in ("trials", "publications")}
    names_before = {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in ("trials", "publications")}
    conn.close()
    assert names_before["trials"][-1] != "raw_json"  # topic_lines and the others came after the payload

    with open_store(path) as store:
        for table, payload in (("trials", "raw_json"), ("publications", "raw_xml")):
            names = [r["name"] for r in all_rows(store, f"SELECT name FROM pragma_table_info('{table}')")]
            assert names == [n for n in names_before[table] if n != payload] + [payload]
            after = store.db.conn.execute(f"SELECT rowid, {', '.join(names_before[table])} FROM {table} ORDER BY rowid").fetchall()
            assert after == before[table]  # every value of every row, under the same rowid
            store.execute(f"INSERT INTO {table}_fts ({table}_fts) VALUES ('integrity-check')")  # raises if the index lost its rows
        found = {hit.id for hit in search_local(store, "cell", limit=100).hits}
        assert found and found <= {t.nct_id for t in trials} | {p.pmid for p in pubs}  # the index still leads to its rows
        nct = before["trials"][0][1]  # a trial still stored
        with store.transaction():  # the triggers were made again: a new match still lists its line on the record
            save_matches(store, KINDS["trials"], "other", [nct], "2026-11-25T06:00:00Z")
        assert "other" in all_rows(store, "SELECT topic_lines FROM trials WHERE nct_id = ?", (nct,))[0]["topic_lines"]


def test_the_raw_payload_is_the_last_column_of_its_table(tmp_path):
    """A migration that adds a column puts it after the payload, where reading it walks the payload's overflow
    pages (m016 says why): rebuild the table as m016 does."""
    with open_store(tmp_path / "new.db") as store:
        for table, payload in PAYLOAD_COLUMNS.items():
            assert all_rows(store, f"SELECT name FROM pragma_table_info('{table}')")[-1]["name"] == payload


def test_sqlite_utils_migrate_lists_the_applied_migrations(tmp_path):
    from sqlite_utils.cli import cli as sqlite_utils_cli

    open_store(tmp_path / "t.db").close()
    result = CliRunner().invoke(sqlite_utils_cli, ["migrate", str(tmp_path / "t.db"), "tracker/store/migrations.py", "--list"])
    assert result.exit_code == 0, result.output
    applied = result.output.split("Applied:")[1].split("Pending:")[0]
    assert [line.split(" - ")[0].strip() for line in applied.strip().splitlines()] == [m.name for m in migrations._migrations]
    assert "(none)" in result.output.split("Pending:")[1]


# -- concurrency and failure -----------------------------------------------------------------------

@pytest.mark.parametrize("attempt", range(20))
def test_two_threads_opening_a_new_database_at_once_both_succeed(tmp_path, attempt):
    path = tmp_path / f"new-{attempt}.db"
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def open_it() -> None:
        start.wait()
        try:
            open_store(path).close()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with open_store(path) as store:
        assert store.db.journal_mode == "wal"
        assert len(migrations.applied(store.db)) == len(migrations._migrations)


class FailingCommit:
    """A connection whose COMMIT fails, as it does on a full disk."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql, *args):
        if sql == "COMMIT":
            raise sqlite3.OperationalError("database or disk is full")
        return self.conn.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self.conn, name)


def test_a_failed_commit_is_rolled_back(tmp_path):
    with open_store(tmp_path / "t.db") as store:
        real = store.conn
        store.conn = FailingCommit(real)
        with pytest.raises(sqlite3.OperationalError, match="disk is full"):
            with store.transaction():
                store.execute("INSERT INTO digests (created_at, window_start, window_end, files, summary) VALUES ('a', 'b', 'c', '[]', '')")
        store.conn = real
        assert not real.in_transaction
        assert all_rows(store, "SELECT count(*) AS n FROM digests") == [{"n": 0}]


def test_an_unexpected_error_marks_the_run_failed_with_its_cause(env, settings, fake_ctgov, monkeypatch):
    from tracker import update

    fake_ctgov.set_studies(real_studies()[:3])
    write_query(settings.queries_dir, "line", ctgov={"query.cond": "alopecia"})

    def broken(*args, **kwargs):
        raise ValueError("bad value in a record")

    monkeypatch.setattr(update, "save_records", broken)
    result = CliRunner().invoke(cli, ["update", "--source", "ctgov"], env={**env, "TRACKER_NOW": "2026-11-24T06:00:00Z"})
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        "Error: 1 of 1 updates failed; first: line [ctgov]: internal error: ValueError: bad value in a record"
    )
    assert "Traceback" not in result.output
    with open_store(settings.db_path) as store:
        [run] = all_rows(store, "SELECT status, error FROM runs")
    assert run == {"status": "failed", "error": "internal error: ValueError: bad value in a record"}
    monkeypatch.undo()
    again = CliRunner().invoke(cli, ["update", "--source", "ctgov"], env={**env, "TRACKER_NOW": "2026-11-24T07:00:00Z"})
    assert again.exit_code == 0 and "interrupted" not in again.output


def test_save_run_start_is_visible_to_a_second_connection(tmp_path):
    with open_store(tmp_path / "t.db") as store:
        run_id = save_run_start(store, "ctgov", "line", NOW)
        other = sqlite3.connect(tmp_path / "t.db")
        assert other.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone() == ("running",)
        other.close()


def test_list_columns_are_written_byte_for_byte_as_json_would_write_them():
    import json

    from tracker.sources.rows import json_text as _json

    awkward = ('say "hi"', "back\\slash", "tab\tnew\nline\x01", "Hôpital – 睡眠", "\u2028\u2029", "emoji 🧬", "")
    for value in [(), ("one",), awkward, tuple(reversed(awkward))]:
        assert _json(value) == json.dumps(list(value), ensure_ascii=False)
        assert json.loads(_json(value)) == list(value)


class _MeddlingPlugin:
    """HAND-MADE: a sqlite-utils plugin as another package could install one, changing every connection it is shown."""

    @sqlite_utils.hookimpl
    def prepare_connection(conn):
        conn.create_function("meddled", 0, lambda: 1)


def test_a_sqlite_utils_plugin_installed_for_something_else_never_touches_the_trackers_connections(tmp_path):
    from sqlite_utils.plugins import pm

    pm.register(_MeddlingPlugin, name="meddling")
    try:
        with open_store(tmp_path / "tracker.db") as store:
            with pytest.raises(sqlite3.OperationalError, match="no such function"):
                store.execute("SELECT meddled()")
        assert sqlite_utils.Database(sqlite3.connect(":memory:")).execute("SELECT meddled()").fetchone() == (1,)  # the plugin works
    finally:
        pm.unregister(name="meddling")


def test_the_schema_stamp_is_this_versions_migrations():
    from tracker.store.connection import SCHEMA_STAMP, known_migrations, migration_sets, schema_stamp

    known = schema_stamp(known_migrations(migration_sets()))
    assert known == SCHEMA_STAMP, f"a migration was added or renamed: set store.connection.SCHEMA_STAMP = {known}"


def test_a_database_opened_the_short_way_reads_as_the_long_way_opens_it(tmp_path):
    from tracker.store.connection import _open_current

    path = tmp_path / "tracker.db"
    with open_store(path) as store, store.transaction():
        save_records(store, "ctgov", [ctgov.parse_study(s) for s in real_studies()[:3]], query="line", run_id=None, now=NOW)
    short = _open_current(path)
    assert short is not None and short._db is None  # no sqlite-utils
    with short, open_store(path) as long:
        for pragma in ("cache_size", "recursive_triggers", "busy_timeout", "journal_mode"):
            assert short.execute(f"PRAGMA {pragma}").fetchone() == long.execute(f"PRAGMA {pragma}").fetchone(), pragma
        assert short.rows("SELECT nct_id, title FROM trials ORDER BY nct_id") == long.rows("SELECT nct_id, title FROM trials ORDER BY nct_id")
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('tracker', 'm999_later', '2027-01-01')")
    conn.commit()
    conn.close()
    assert _open_current(path) is None  # a migration this version does not know: the long way, which refuses it
