"""Reliability: faulty servers, random failures, total outage, SIGKILL crashes, concurrency, bad input, secrets.
The README's reliability matrix lists these tests."""

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from werkzeug import Response

from tracker.cli import cli
from tracker.errors import StoreError
from tracker.sources import pubmed
from tracker.store import open_store

from .conftest import ROOT, fixture_path, load_json, real_studies, write_query
from .faults import FAULTS
from .test_pubmed import real_articles

LINE = {"query.cond": "alopecia"}


def db_rows(db, sql):
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def invoke(env, *args, **extra):
    return CliRunner().invoke(cli, list(args), env={**env, **extra})


@pytest.fixture
def two_sources(env, settings, fake_ctgov, fake_pubmed, monkeypatch):
    monkeypatch.setattr(pubmed.eutils, "BATCH_SIZE", 20)
    fake_ctgov.set_studies(real_studies())
    fake_ctgov.page_size_cap = 10
    fake_pubmed.articles = real_articles()[:100]
    write_query(settings.queries_dir, "line-a", ctgov=LINE, pubmed="stem cells", prefix="1-")
    write_query(settings.queries_dir, "line-b", ctgov={"query.term": "cells"}, pubmed="hair", prefix="2-")
    return {"trials": len(fake_ctgov.studies), "pubs": len(fake_pubmed.articles)}


def assert_complete(env, counts):
    db = env["TRACKER_DB"]
    assert db_rows(db, "SELECT count(*), count(DISTINCT nct_id) FROM trials") == [(counts["trials"], counts["trials"])]
    assert db_rows(db, "SELECT count(*), count(DISTINCT pmid) FROM publications") == [(counts["pubs"], counts["pubs"])]
    assert db_rows(db, "SELECT query, source, count(*) FROM query_matches GROUP BY query, source ORDER BY query, source") == [
        ("line-a", "ctgov", counts["trials"]), ("line-a", "pubmed", counts["pubs"]),
        ("line-b", "ctgov", counts["trials"]), ("line-b", "pubmed", counts["pubs"]),
    ]
    assert db_rows(db, "SELECT count(*) FROM trial_changes") == [(0,)]
    assert db_rows(db, "SELECT count(*) FROM publication_changes") == [(0,)]
    assert db_rows(db, "PRAGMA integrity_check") == [("ok",)]


@pytest.mark.parametrize("name", list(FAULTS))
def test_each_fault_once_per_source_is_survived(env, two_sources, fake_ctgov, fake_pubmed, name):
    for fake in (fake_ctgov, fake_pubmed):
        fake.faults.extend([FAULTS[name], FAULTS[name]])
    result = invoke(env, "update", TRACKER_READ_TIMEOUT="1")
    assert result.exit_code == 0, result.output
    assert_complete(env, two_sources)


def test_thirty_percent_of_requests_failing_at_random_still_stores_every_record_once(env, two_sources, fake_ctgov, fake_pubmed, monkeypatch):
    fake_ctgov.page_size_cap = 4  # more pages and batches: more requests to fail
    monkeypatch.setattr(pubmed.eutils, "BATCH_SIZE", 5)
    rng = random.Random(20261124)
    kinds = [f for n, f in FAULTS.items() if n != "slower than the read timeout"]
    injected = []

    def random_fault(request):
        if rng.random() < 0.3:
            fault = rng.choice(kinds)
            injected.append(fault)
            return fault(request)
        return None

    fake_ctgov.always = fake_pubmed.always = random_fault
    result = invoke(env, "update", TRACKER_HTTP_RETRIES="8")
    assert result.exit_code == 0, result.output
    total = len(fake_ctgov.requests) + len(fake_pubmed.requests)
    assert total >= 80 and 0.2 * total <= len(injected) <= 0.4 * total
    assert_complete(env, two_sources)


def test_every_request_failing_exits_in_bounded_requests_with_nothing_written_then_catches_up(env, two_sources, fake_ctgov, fake_pubmed):
    fake_ctgov.always = fake_pubmed.always = FAULTS["503"]
    result = invoke(env, "update")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("Error: 4 of 4 updates failed; first: line-a [ctgov]: ClinicalTrials.gov: studies failed after 4 attempts")
    # one line per source is tried (4 attempts each); the service's other lines are not tried
    assert (len(fake_ctgov.requests), len(fake_pubmed.requests)) == (4, 4)
    db = env["TRACKER_DB"]
    assert db_rows(db, "SELECT count(*) FROM trials") == [(0,)] and db_rows(db, "SELECT count(*) FROM publications") == [(0,)]
    assert db_rows(db, "SELECT count(*) FROM query_matches") == [(0,)]
    assert db_rows(db, "SELECT DISTINCT status, cursor FROM runs") == [("failed", None)]
    fake_ctgov.always = fake_pubmed.always = None
    healthy = invoke(env, "update")
    assert healthy.exit_code == 0, healthy.output
    assert_complete(env, two_sources)


def test_a_next_page_token_answered_with_400_fails_the_line_and_keeps_the_cursor(env, settings, fake_ctgov):
    first = load_json("ctgov", "v2", "search", "biomcp_search_phelan_limit5_20260811.json")
    fake_ctgov.recorded_pages = {None: first}  # the token of page 1 is unknown to the server: 400 text/plain
    write_query(settings.queries_dir, "line", ctgov=LINE)
    result = invoke(env, "update", "--source", "ctgov")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "Error: 1 of 1 updates failed; first: line [ctgov]: ClinicalTrials.gov rejected the request (HTTP 400): "
        f"unknown pageToken {first['nextPageToken']}"
    )
    assert db_rows(env["TRACKER_DB"], "SELECT count(*) FROM trials") == [(0,)]
    assert db_rows(env["TRACKER_DB"], "SELECT status, cursor FROM runs") == [("failed", None)]


# -- crashes ---------------------------------------------------------------------------------------

def blocking_fault(at: int, reached: threading.Event, release: threading.Event):
    """Answer normally until request number `at`; then signal and hold that answer."""
    seen = [0]

    def fault(request):
        seen[0] += 1
        if seen[0] == at:
            reached.set()
            release.wait(30)
        return None

    return fault


def start_update(env, *args):
    return subprocess.Popen(
        [sys.executable, "-m", "tracker", "update", *args], env={**os.environ, **env}, cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


@pytest.mark.parametrize("source, at", [("ctgov", 1), ("ctgov", 3), ("pubmed", 2), ("pubmed", 4)])
def test_sigkill_at_several_points_leaves_a_sound_database_and_the_next_run_loses_nothing(env, two_sources, fake_ctgov, fake_pubmed, source, at):
    reached, release = threading.Event(), threading.Event()
    fake = fake_ctgov if source == "ctgov" else fake_pubmed
    fake.always = blocking_fault(at, reached, release)
    proc = start_update(env)
    try:
        assert reached.wait(30), "the update never reached the kill point"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        release.set()
    fake.always = None
    db = env["TRACKER_DB"]
    assert db_rows(db, "PRAGMA integrity_check") == [("ok",)]
    assert ("running",) in db_rows(db, "SELECT status FROM runs")
    result = invoke(env, "update")
    assert result.exit_code == 0, result.output
    assert "earlier update(s) were interrupted" in result.output
    assert ("interrupted",) in db_rows(db, "SELECT status FROM runs")
    assert_complete(env, two_sources)


# -- concurrency -----------------------------------------------------------------------------------

def test_search_show_and_digest_work_while_an_update_runs_and_a_second_update_refuses(env, two_sources, fake_ctgov, fake_pubmed):
    assert invoke(env, "update", "--source", "ctgov").exit_code == 0
    reached, release = threading.Event(), threading.Event()
    fake_pubmed.always = blocking_fault(2, reached, release)
    proc = start_update(env)
    try:
        assert reached.wait(30)
        search = invoke(env, "search", "cell", "--json")
        assert search.exit_code == 0 and json.loads(search.output)
        assert invoke(env, "show", "NCT02552212").exit_code == 0
        digest = invoke(env, "digest", "--format", "md")
        assert digest.exit_code == 0, digest.output
        second = invoke(env, "update")
        assert second.exit_code == 1
        assert second.output.strip() == f"Error: another update is already writing to {env['TRACKER_DB']} (pid {proc.pid}); try again when it has finished"
    finally:
        release.set()
    fake_pubmed.always = None
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert_complete(env, two_sources)


def test_readers_and_the_digest_wait_out_a_write_transaction_instead_of_failing(env, two_sources, fake_ctgov, fake_pubmed):
    assert invoke(env, "update").exit_code == 0
    writer = sqlite3.connect(env["TRACKER_DB"], isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE trials SET title = title")
    outcome = {}

    def digest():
        outcome["result"] = invoke(env, "digest", "--format", "md")
        outcome["finished"] = time.monotonic()

    try:
        assert invoke(env, "search", "cell").exit_code == 0  # WAL: readers never wait
        thread = threading.Thread(target=digest)
        thread.start()
        time.sleep(1.0)
        assert thread.is_alive()  # it cannot record the digest while the writer holds the lock
        committed = time.monotonic()
        writer.execute("COMMIT")
        thread.join(30)
    finally:
        writer.close()
    assert outcome["result"].exit_code == 0, outcome["result"].output
    assert outcome["finished"] >= committed  # it waited (busy timeout) and then succeeded


def test_two_updates_in_one_process_never_interleave(env, settings, two_sources):
    store = open_store(settings.db_path)
    with store.update_lock():
        with pytest.raises(StoreError, match="another update is already writing"):
            with open_store(settings.db_path).update_lock():
                pass
    store.close()


def test_the_scheduler_runs_one_update_at_a_time():
    from tracker.schedule import MISFIRE_GRACE, build_scheduler
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = build_scheduler([("update", "0 6 * * *", lambda: None)], timezone="UTC", scheduler=BackgroundScheduler(timezone="UTC"))
    [job] = scheduler.get_jobs()
    assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, MISFIRE_GRACE)


# -- bad input -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "db_path, message",
    [
        ("/dev/null/tracker.db", "Error: cannot create the database directory /dev/null"),
        ("/proc/tracker.db", "Error: cannot write to the database /proc/tracker.db"),
    ],
)
def test_unusable_database_paths_get_one_line(env, settings, db_path, message):
    write_query(settings.queries_dir, "line", ctgov=LINE)
    for command in (["update"], ["digest"]):
        result = invoke(env, *command, "--db", db_path)
        assert result.exit_code == 1
        assert result.output.strip().startswith(message) and len(result.output.strip().splitlines()) == 1, result.output
    for command in (["search", "x"], ["show", "NCT00000001"], ["export", "trials"]):  # readers never try to create one
        result = invoke(env, *command, "--db", db_path)
        assert (result.exit_code, result.output) == (1, f"Error: no database at {db_path} yet; `tracker update` (or `tracker run`) creates it, or pass --db PATH\n")


def test_commands_that_only_read_create_nothing_at_a_mistyped_path(env, settings, tmp_path):
    write_query(settings.queries_dir, "line", ctgov=LINE)
    typo = tmp_path / "dta" / "tracker.db"
    for command in (["search", "x"], ["show", "NCT00000001"], ["export", "publications", "--format", "ris"], ["signals"], ["serve", "--port", "8999"]):
        result = invoke(env, *command, "--db", str(typo))
        assert (result.exit_code, result.output) == (1, f"Error: no database at {typo} yet; `tracker update` (or `tracker run`) creates it, or pass --db PATH\n")
    assert not typo.parent.exists()


def test_a_directory_as_database_and_a_corrupt_file_get_one_line(env, settings, tmp_path):
    write_query(settings.queries_dir, "line", ctgov=LINE)
    shutil_copy_claims(settings)
    result = invoke(env, "search", "x", "--db", str(tmp_path))
    assert result.exit_code == 1 and result.output.strip() == f"Error: database path {tmp_path} is a directory"
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    for command in (["update"], ["search", "x"], ["digest"], ["claims", "--offline"]):
        result = invoke(env, *command, "--db", str(corrupt))
        assert result.exit_code == 1, result.output
        assert result.output.strip().startswith(f"Error: {corrupt} is not a tracker database, or its first page is damaged"), result.output


def test_a_large_study_with_hundreds_of_locations_is_stored_whole(env, settings, fake_ctgov):
    assert fixture_path("ctgov", "v2", "single", "mcode_NCT02513394.json").stat().st_size > 1_400_000
    big = load_json("ctgov", "v2", "single", "mcode_NCT02513394.json")
    fake_ctgov.set_studies([big])
    write_query(settings.queries_dir, "line", ctgov=LINE)
    assert invoke(env, "update", "--source", "ctgov").exit_code == 0
    [(nct, countries, raw)] = db_rows(env["TRACKER_DB"], "SELECT nct_id, countries, raw_json FROM trials")
    locations = big["protocolSection"]["contactsLocationsModule"]["locations"]
    assert nct == "NCT02513394" and len(locations) > 400
    assert json.loads(countries) == list(dict.fromkeys(l["country"] for l in locations if l.get("country")))
    assert raw == json.dumps(big)  # the study's text exactly as the server sent it


def test_broken_api_payloads_fail_one_line_without_a_traceback(env, settings, fake_ctgov):
    write_query(settings.queries_dir, "line", ctgov=LINE)
    fake_ctgov.always = lambda request: Response('{"studies": "not a list"}', content_type="application/json")
    result = invoke(env, "update", "--source", "ctgov")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1].endswith("failed after 4 attempts in 0s: JSON page without a list of studies")


@pytest.mark.parametrize("body, why", [
    ("<!DOCTYPE html><html><body><h1>Sign in to the guest network</h1></body></html>", "an HTML page instead of JSON"),
    ('{"studies": [{"protocolSection": ', "malformed or cut-off JSON"),
])
def test_a_page_that_is_no_json_answer_says_what_it_was(env, settings, fake_ctgov, body, why):
    write_query(settings.queries_dir, "line", ctgov=LINE)
    fake_ctgov.always = lambda request: Response(body, content_type="text/html" if body.startswith("<") else "application/json")
    result = invoke(env, "update", "--source", "ctgov")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1].endswith(f"failed after 4 attempts in 0s: {why}")


def test_dead_network_is_one_line(env, settings):
    write_query(settings.queries_dir, "line", ctgov=LINE, pubmed="x")
    result = invoke(env, "update", TRACKER_CTGOV_URL="http://127.0.0.1:9/api/v2", TRACKER_EUTILS_URL="http://127.0.0.1:9/eutils")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "Error: 2 of 2 updates failed; first: line [ctgov]: ClinicalTrials.gov: studies failed after 4 attempts in 0s: "
        "could not connect to 127.0.0.1:9 (and 1 more)"
    )


# -- secrets ---------------------------------------------------------------------------------------

SECRET = "0123456789abcdefSECRETKEY"


def test_the_api_key_never_appears_in_output_logs_database_or_reports(env, settings, fake_ctgov, fake_pubmed, tmp_path, caplog):
    shutil_copy_claims(settings)
    fake_ctgov.set_studies(real_studies()[:5])
    fake_pubmed.articles = real_articles()[:5]
    write_query(settings.queries_dir, "line", ctgov=LINE, pubmed="stem cells")
    env = {**env, "NCBI_API_KEY": SECRET}
    outputs = []
    for args in (
        ["queries"], ["update"], ["run"], ["digest", "--since", "2020-01-01"], ["search", "cell"], ["search", "--live", "cell"],
        ["show", fake_pubmed.pmid(fake_pubmed.articles[0])], ["export", "publications", "--format", "ris"], ["claims", "--claim", "C4"],
    ):
        outputs.append(invoke(env, *args).output)
    # failing commands: the server refuses, the network is dead, the answer is malformed
    fake_pubmed.always = lambda request: Response(f"bad request with api_key={SECRET}", status=400)
    outputs.append(invoke(env, "update", "--source", "pubmed").output)
    outputs.append(invoke(env, "search", "--live", "x").output)
    fake_pubmed.always = lambda request: Response("<broken", status=200)
    outputs.append(invoke(env, "update", "--source", "pubmed", "--full").output)
    outputs.append(invoke(env, "update", "--source", "pubmed", TRACKER_EUTILS_URL="http://127.0.0.1:9/eutils").output)
    outputs.append(invoke(env, "claims", "--claim", "C4", TRACKER_EUTILS_URL="http://127.0.0.1:9/eutils").output)
    assert any(r.get("api_key") == SECRET for r in fake_pubmed.requests)  # the key was really sent
    assert any("400" in o for o in outputs) and any("could not connect" in o for o in outputs)
    for text in outputs + [caplog.text]:
        assert SECRET not in text
    dump = "\n".join(sqlite3.connect(env["TRACKER_DB"]).iterdump())
    assert SECRET not in dump
    for path in (p for p in Path(env["TRACKER_REPORTS"]).rglob("*") if p.is_file()):
        assert SECRET not in path.read_text(errors="replace")


def shutil_copy_claims(settings):
    import shutil

    settings.queries_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "queries" / "claims.toml", settings.queries_dir / "claims.toml")
