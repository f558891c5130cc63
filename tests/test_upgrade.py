"""A database written by the tracker as it was at 8f871e2 (before sources carried their own identity) upgrades in
place with nothing lost. The old database is made by that commit's own code (git archive), run as a user runs it:
two updates against the local servers with a change between them, then a digest."""

from __future__ import annotations

import copy
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, real_studies, write_query
from .test_pubmed import real_articles

OLD_COMMIT = "8f871e2"
LINE = {"query.cond": "alopecia"}
TERM = "alopecia[tiab]"
# Tables of the old schema: every row of each must read back unchanged through the same name.
OLD_TABLES = ("trials", "publications", "trial_changes", "publication_changes", "trial_publications", "query_matches",
              "runs", "digests", "claim_checks", "signals", "line_years", "sweeps")


def old_tracker(tmp_path: Path) -> Path:
    """The tracker package as it was at OLD_COMMIT, unpacked beside the test's database."""
    git = shutil.which("git")
    if git is None or subprocess.run([git, "-C", str(ROOT), "cat-file", "-e", f"{OLD_COMMIT}^{{commit}}"],
                                     capture_output=True).returncode != 0:
        pytest.skip(f"commit {OLD_COMMIT} is not in this checkout's history (a shallow clone?)")
    target = tmp_path / "old"
    target.mkdir()
    archive = subprocess.run([git, "-C", str(ROOT), "archive", OLD_COMMIT, "tracker"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def run_old(code: Path, env: dict[str, str], *args: str, now: str) -> None:
    """The old tracker's CLI in its own process (its package first on the path, ahead of this checkout's)."""
    script = f"import sys; sys.path.insert(0, {str(code)!r}); from tracker.cli import cli; cli()"
    result = subprocess.run([sys.executable, "-c", script, *args], env={**os.environ, **env, "TRACKER_NOW": now},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def table_rows(db: Path, table: str) -> tuple[list[str], set[tuple]]:
    conn = sqlite3.connect(db)
    try:
        cursor = conn.execute(f"SELECT * FROM {table}")
        return [d[0] for d in cursor.description], set(cursor.fetchall())
    finally:
        conn.close()


@pytest.fixture
def old_database(tmp_path, env, settings, fake_ctgov, fake_pubmed) -> Path:
    code = old_tracker(tmp_path)
    studies = real_studies()
    fake_ctgov.set_studies(studies)
    fake_pubmed.articles = real_articles()
    write_query(settings.queries_dir, "line-a", ctgov=LINE, pubmed=TERM)
    run_old(code, env, "update", now="2026-11-01T06:00:00Z")
    changed = copy.deepcopy(studies)
    status = changed[0]["protocolSection"].setdefault("statusModule", {})
    status["overallStatus"] = "TERMINATED"
    status["whyStopped"] = "sponsor decision"
    status["lastUpdatePostDateStruct"] = {"date": "2026-11-05", "type": "ACTUAL"}
    fake_ctgov.set_studies(changed)
    run_old(code, env, "update", now="2026-11-08T06:00:00Z")
    run_old(code, env, "digest", now="2026-11-09T07:00:00Z")
    return settings.db_path


def test_a_database_written_at_8f871e2_upgrades_with_every_row_kept(old_database, tmp_path):
    from tracker.store import open_store

    before = {table: table_rows(old_database, table) for table in OLD_TABLES}
    assert before["trial_changes"][1], "the old tracker recorded no change: the upgrade would prove little"
    assert before["signals"][1] and before["trial_publications"][1] and before["digests"][1]
    with open_store(old_database) as store:
        store.execute("SELECT 1")
    for table, (columns, rows) in before.items():
        _, after = table_rows(old_database, f"(SELECT {', '.join(columns)} FROM {table})")
        assert after == rows, f"{table}: rows lost or altered by the upgrade"


def test_an_upgraded_database_knows_every_identifier_its_records_carry(old_database):
    from tracker.store import open_store

    with open_store(old_database) as store:
        ids = set(store.execute("SELECT source, record_id, scheme, value FROM identifiers").fetchall())
        trials = [r[0] for r in store.execute("SELECT nct_id FROM trials")]
        pmids = [r[0] for r in store.execute("SELECT pmid FROM publications")]
    assert {("ctgov", n, "nct", n) for n in trials} <= ids
    assert {("pubmed", p, "pmid", p) for p in pmids} <= ids
    assert ("ctgov", "NCT02552212", "eudract", "2015-001894-41") in ids  # a secondary id, read back from the stored JSON


def test_an_upgraded_database_gets_a_newest_tier_for_every_text_index(old_database):
    import sqlite3

    from tracker.sources import SOURCES
    from tracker.store import open_store

    with open_store(old_database) as store:
        store.execute("SELECT 1")
    conn = sqlite3.connect(old_database)
    try:
        for source in SOURCES.values():
            table, columns = source.shape.table, ", ".join(source.shape.text_columns)
            tier = sorted(r for name in (f"{table}_newest_a", f"{table}_newest_b")
                          for r in conn.execute(f"SELECT rowid, {columns} FROM {name}").fetchall())
            assert tier == conn.execute(f"SELECT text_rowid, {columns} FROM {table}_text ORDER BY text_rowid").fetchall(), table
        assert conn.execute("SELECT count(*) FROM trials_newest_a").fetchone()[0] > 0  # the old tracker had stored trials
    finally:
        conn.close()


def test_a_read_command_on_an_older_database_takes_the_long_way_and_upgrades_it(old_database, env):
    from click.testing import CliRunner

    from tracker.cli import cli
    from tracker.store.connection import SCHEMA_STAMP, applied_migrations, schema_stamp

    def applied() -> list[tuple[str, str]]:
        conn = sqlite3.connect(old_database)
        try:
            return applied_migrations(conn)
        finally:
            conn.close()

    assert schema_stamp(applied()) != SCHEMA_STAMP  # the old tracker's migrations are not all of this version's
    result = CliRunner().invoke(cli, ["search", "alopecia"], env=env)
    assert result.exit_code == 0, result.output
    assert schema_stamp(applied()) == SCHEMA_STAMP
