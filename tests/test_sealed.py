"""Bounded and sealed (part of issue 35): a redirect to another host is not followed (nothing the request carried
goes there), an answer decoding past TRACKER_HTTP_MAX_BYTES is refused, secrets are redacted in their URL-encoded
and base64 forms (an SMTP server echoing AUTH), CSV cells that a spreadsheet would run as a formula are kept text,
and a topic file saved with a byte-order mark reads as the TOML it is. Hand-made answers: a local server's redirect
and a gzip answer (no recording has either)."""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json

import pytest
from click.testing import CliRunner
from werkzeug import Response

from tracker.cli import cli
from tracker.errors import HttpError
from tracker.http import HttpClient, redact

from .conftest import real_studies, write_query


def test_a_redirect_to_another_host_is_not_followed_and_carries_nothing_there(settings, httpserver):
    from pytest_httpserver import HTTPServer

    other = HTTPServer(host="127.0.0.1", port=0)
    other.start()
    try:
        other.expect_request("/steal").respond_with_data("got it")
        target = other.url_for("/steal")  # another host: another netloc (here another port)
        httpserver.expect_request("/entrez/eutils/esearch.fcgi").respond_with_response(Response("", status=307, headers={"Location": target}))
        client = HttpClient(settings.with_overrides(ncbi_api_key="KEY123secret"))
        with pytest.raises(HttpError) as caught:
            client.post(settings.eutils_url + "/esearch.fcgi", {"api_key": "KEY123secret", "term": "x"})
        assert "redirected to another host" in str(caught.value) and "KEY123secret" not in str(caught.value)
        assert other.log == []  # the other host was never asked
    finally:
        other.stop()


def test_a_redirect_within_the_host_is_followed(settings, httpserver):
    httpserver.expect_request("/old").respond_with_response(Response("", status=301, headers={"Location": "/new"}))
    httpserver.expect_request("/new").respond_with_data("here")
    assert HttpClient(settings).get(httpserver.url_for("/old")) == b"here"


def test_an_answer_decoding_past_the_limit_is_refused(settings, httpserver):
    bomb = gzip.compress(b"0" * 5_000_000)  # 5 MB of zeros in about 5 kB
    httpserver.expect_request("/api/v2/studies").respond_with_response(
        Response(bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}))
    client = HttpClient(settings.with_overrides(max_response_bytes=1_000_000))
    with pytest.raises(HttpError) as caught:
        client.get(settings.ctgov_url + "/studies")
    assert "passed 1,000,000 bytes (TRACKER_HTTP_MAX_BYTES)" in str(caught.value)
    assert len(httpserver.log) == 1  # refused, not asked again


@pytest.mark.parametrize("user", ["u", "us", "use", "user"])
def test_a_secret_is_redacted_in_every_form_it_can_be_echoed_in(user):
    secret = "p@ss word/42"
    plain_token = base64.b64encode(f"\0{user}\0{secret}".encode()).decode()  # SMTP AUTH PLAIN
    login_token = base64.b64encode(secret.encode()).decode()  # SMTP AUTH LOGIN
    text = f"535 rejected {plain_token} / {login_token} / url ?pw=p%40ss%20word%2F42 or p%40ss+word%2F42 / {secret}"
    cleaned = redact(text, (secret,))
    assert cleaned == "535 rejected *** / *** / url ?pw=*** or *** / ***"


def test_csv_cells_a_spreadsheet_would_run_stay_text(env, settings, fake_ctgov):
    study = real_studies()[0]
    study["protocolSection"]["identificationModule"]["briefTitle"] = '=HYPERLINK("http://example.org/x","click")'  # HAND-MADE
    fake_ctgov.set_studies([study])
    write_query(settings.queries_dir, "line", ctgov={"query.cond": "alopecia"})
    assert CliRunner().invoke(cli, ["update"], env=env).exit_code == 0
    exported = CliRunner().invoke(cli, ["export", "trials", "--format", "csv"], env=env).output
    [row] = list(csv.DictReader(io.StringIO(exported)))
    assert row["title"] == '\'=HYPERLINK("http://example.org/x","click")'
    searched = CliRunner().invoke(cli, ["search", "--line", "line", "--csv"], env=env).output
    assert "'=HYPERLINK" in searched and ',=HYPERLINK' not in searched
    raw = CliRunner().invoke(cli, ["export", "trials", "--format", "csv", "--keep-formulas"], env=env).output
    assert list(csv.DictReader(io.StringIO(raw)))[0]["title"].startswith("=HYPERLINK")  # asked for: kept raw
    exported_json = json.loads(CliRunner().invoke(cli, ["export", "trials", "--format", "json"], env=env).output)
    assert exported_json[0]["title"].startswith("=HYPERLINK")  # JSON keeps the value exactly


def test_a_topic_file_with_a_byte_order_mark_reads_as_its_toml(env, settings):
    path = write_query(settings.queries_dir, "bom", pubmed="stem cells")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    result = CliRunner().invoke(cli, ["queries"], env=env)
    assert result.exit_code == 0 and "bom" in result.output, result.output
    path.write_bytes("name = \"bom\"\ntitle = \"caf\xe9\"\n".encode("latin-1"))
    bad = CliRunner().invoke(cli, ["queries"], env=env)
    assert bad.exit_code == 1 and "not UTF-8 text" in bad.output and bad.output.count("\n") == 1


def test_an_answer_naming_a_dtd_biopython_does_not_ship_is_one_line_and_fetches_nothing(env, settings, httpserver):
    from Bio.Entrez import Parser

    from .fakes import ESEARCH

    # HAND-MADE: a recorded-shape esearch answer whose DOCTYPE names a DTD no biopython ships
    body = ESEARCH.format(count=0, key=1, webenv="W", term="x", ids="").replace("esearch.dtd", "esearch_29990101.dtd")
    httpserver.expect_request("/entrez/eutils/esearch.fcgi").respond_with_data(body, content_type="text/xml")
    write_query(settings.queries_dir, "line", pubmed="stem cells")
    result = CliRunner().invoke(cli, ["update"], env=env)
    assert result.exit_code == 1 and "its DTD esearch_29990101.dtd is not shipped" in result.output, result.output
    with pytest.raises(OSError, match="does not fetch DTDs"):  # what Bio.Entrez, as the tracker left it, opens a DTD's URL with
        Parser.urlopen("https://eutils.ncbi.nlm.nih.gov/eutils/dtd/29990101/esearch.dtd")
    assert result.output.count("\n") == 2  # the line's failure, and the one closing line


def test_an_article_with_bytes_that_are_not_utf8_does_not_fail_its_batch(env, settings, fake_pubmed, httpserver):
    from .test_pubmed import real_articles

    articles = real_articles()[:3]
    marker = "LATIN1BYTE"
    fake_pubmed.articles = [articles[0].replace("<ArticleTitle>", f"<ArticleTitle>caf{marker} ", 1), *articles[1:]]
    original = fake_pubmed.efetch

    def efetch_with_raw_byte(request):  # HAND-MADE: the answer carries one raw latin-1 byte, as a broken record would
        response = original(request)
        response.set_data(response.get_data().replace(marker.encode(), b"\xe9"))
        return response

    httpserver.clear_all_handlers()
    fake_pubmed.efetch = efetch_with_raw_byte
    fake_pubmed.install()
    write_query(settings.queries_dir, "line", pubmed="stem cells")
    result = CliRunner().invoke(cli, ["update"], env=env)
    assert result.exit_code == 0 and "fetched 3, new 3" in result.output, result.output
    pmid = fake_pubmed.pmid(articles[0])
    shown = json.loads(CliRunner().invoke(cli, ["show", pmid, "--json"], env=env).output)
    assert shown["record"]["title"].startswith("caf\ufffd ")  # said as what it is: a character that did not come through


def test_sigterm_during_an_update_marks_the_run_failed_and_says_so(env, settings, fake_ctgov):
    import os
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    fake_ctgov.set_studies(real_studies())
    fake_ctgov.always = lambda request: time.sleep(5)  # a slow registry: the update is waiting on it when stopped
    write_query(settings.queries_dir, "line", ctgov={"query.cond": "alopecia"})
    process = subprocess.Popen([sys.executable, "-m", "tracker", "update"], env={**os.environ, **env}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not fake_ctgov.requests:
        time.sleep(0.1)
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, (out, err)
    assert "interrupted: a run in progress is recorded as interrupted" in err and "Traceback" not in err
    conn = sqlite3.connect(settings.db_path)
    try:
        assert conn.execute("SELECT status, error FROM runs").fetchall() == [
            ("interrupted", "stopped by a signal (SIGTERM or Ctrl-C) before the run finished")]
    finally:
        conn.close()


def test_a_record_of_megabytes_is_found_but_not_quoted_in_a_snippet(settings):
    """snippet() tokenizes a hit's whole text (a 5 MB abstract took minutes): such a hit shows its title instead."""
    from datetime import datetime, timezone

    from tracker.models import Publication, built
    from tracker.store import RecordFilter, open_store, save_records, select_search

    huge = built(Publication, pmid="123", title="A record of megabytes", abstract="stem cell growth " * 20_000, raw_xml="<x/>")  # HAND-MADE
    normal = built(Publication, pmid="124", title="A normal record", abstract="stem cell growth in the follicle", raw_xml="<y/>")
    with open_store(settings.db_path) as store:
        with store.transaction():
            save_records(store, "pubmed", [huge, normal], query="q", run_id=None, now=datetime(2026, 12, 4, tzinfo=timezone.utc))
        rows, _ = select_search(store, '"follicle" OR "growth"', kind="publications", f=RecordFilter(), limit=20)
    snippets = {r["record_id"]: r["snippet"] for r in rows}
    assert snippets["123"] == "A record of megabytes … (text too long to quote)"
    assert "[growth]" in snippets["124"] or "[follicle]" in snippets["124"]


def test_a_database_in_a_read_only_place_is_read_by_reading_commands(env, settings, fake_ctgov, tmp_path):
    import subprocess

    fake_ctgov.set_studies(real_studies()[:3])
    write_query(settings.queries_dir, "line", ctgov={"query.cond": "alopecia"})
    assert CliRunner().invoke(cli, ["update"], env=env).exit_code == 0
    import shutil

    source, mounted = tmp_path / "archive", tmp_path / "read-only"
    source.mkdir()
    mounted.mkdir()
    shutil.copy(settings.db_path, source / settings.db_path.name)  # a cleanly closed database: no -wal, no -shm
    bind = subprocess.run(["mount", "--bind", str(source), str(mounted)], capture_output=True)
    if bind.returncode != 0:
        pytest.skip(f"a read-only bind mount needs mount privileges here: {bind.stderr.decode().strip()}")
    try:
        if subprocess.run(["mount", "-o", "remount,bind,ro", str(mounted)], capture_output=True).returncode != 0:
            pytest.skip("cannot remount read-only here")
        ro_env = {**env, "TRACKER_DB": str(mounted / settings.db_path.name)}
        found = CliRunner().invoke(cli, ["search", "--line", "line", "--json"], env=ro_env)
        assert found.exit_code == 0 and len(json.loads(found.output)) == 3, found.output
        assert CliRunner().invoke(cli, ["export", "trials"], env=ro_env).exit_code == 0
        refused = CliRunner().invoke(cli, ["update"], env=ro_env)
        assert refused.exit_code == 1 and refused.output.count("\n") == 1 and "read-only" in refused.output, refused.output
    finally:
        subprocess.run(["umount", "-l", str(mounted)], capture_output=True)


def test_every_parser_reads_its_recordings_with_sockets_forbidden(monkeypatch):
    """No library behind a parser reaches the network (Bio.Entrez's DTD look-ups above all): every parser is run on
    real recordings with socket creation forbidden."""
    import socket

    from tracker.sources.ctgov import parse_json_page, parse_page
    from tracker.sources.ctgov.api import Page
    from tracker.sources.ctis import parse_trial
    from tracker.sources.europepmc import parse_result
    from tracker.sources.ictrp import parse_export
    from tracker.sources.isrctn import parse_count, parse_who
    from tracker.sources.pubmed import parse_elink, parse_pubmed_xml
    from tracker.sources.pubmed.eutils import read_xml

    from .conftest import FIXTURES, ICTRP_EXPORT, fixture_path, load_json

    def no_network(*args, **kwargs):
        raise AssertionError("a parser opened a socket")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    page = parse_json_page(next((FIXTURES / "ctgov" / "v2" / "search").glob("*.json")).read_bytes())
    assert list(parse_page(Page(studies=page["studies"], total_count=None, next_page_token=None, raw=page["_raw"])))
    for path in sorted((FIXTURES / "pubmed").rglob("*.xml")):
        body = path.read_bytes()
        if b"<PubmedArticleSet" in body[:4000] and b"pubmed_250101.dtd" in body[:600]:
            parse_pubmed_xml(body)  # lxml: no DTD is loaded, none is fetched (some recordings are empty sets)
        elif b"<eSearchResult" in body[:2000]:
            try:
                read_xml(body)
            except Exception as exc:  # noqa: BLE001  (an error answer is read as one; only the network is forbidden)
                assert "socket" not in str(exc)
    assert parse_elink(fixture_path("pubmed", "biopython-1.88", "elink1.xml").read_bytes())
    assert parse_trial(load_json("ctis", "techbio", "search_endometriosis_page1.json")["data"][0], load_json("ctis", "kimmingul-ctreg", "retrieve.json"))
    assert parse_count(fixture_path("isrctn", "kimmingul-ctreg", "count-default.xml").read_bytes()) == 4
    assert len(parse_who(fixture_path("isrctn", "kimmingul-ctreg", "search-who.xml").read_bytes())) == 4
    assert parse_result(load_json("europepmc", "pubmed-watch", "europepmc_preprint_record.json")["resultList"]["result"][0])
    assert len(parse_export(fixture_path(*ICTRP_EXPORT).read_bytes())) == 90


def test_a_title_with_a_lone_brace_keeps_every_bibtex_entry_parseable():
    import bibtexparser

    from tracker.export import render_bibtex

    rows = [{"pmid": "1", "title": "A {lone brace and a } stray one }", "authors": "[]", "sort_date": "2020-01-01"},
            {"pmid": "2", "title": "The next entry", "authors": "[]", "sort_date": "2021-01-01"}]
    parsed = bibtexparser.loads("".join(render_bibtex(rows)))
    assert [e["ID"] for e in parsed.entries] == ["pmid1", "pmid2"]


def test_a_database_written_by_a_newer_tracker_is_refused_and_not_written(env, settings, fake_ctgov):
    import sqlite3

    fake_ctgov.set_studies(real_studies()[:2])
    write_query(settings.queries_dir, "line", ctgov={"query.cond": "alopecia"})
    assert CliRunner().invoke(cli, ["update"], env=env).exit_code == 0
    conn = sqlite3.connect(settings.db_path)
    conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('tracker', 'm999_from_the_future', '2027-01-01')")
    conn.commit()
    before = conn.execute("SELECT count(*), max(id) FROM runs").fetchone()
    conn.close()
    for args in (["update"], ["search", "--line", "line"]):
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
        assert "was written by a newer tracker (migration tracker.m999_from_the_future is unknown to this version)" in result.output
    conn = sqlite3.connect(settings.db_path)
    try:
        assert conn.execute("SELECT count(*), max(id) FROM runs").fetchone() == before  # nothing written
    finally:
        conn.close()


def _stored_once(env, settings, fake_ctgov) -> list[dict]:
    studies = real_studies()[:3]
    fake_ctgov.set_studies(studies)
    write_query(settings.queries_dir, "line", ctgov={"query.cond": "alopecia"})
    assert CliRunner().invoke(cli, ["update"], env=env).exit_code == 0
    return studies


def _file_state(path) -> tuple[bytes, int]:
    """The database file's digest and the bytes its WAL holds (a reader may leave an empty -wal file beside it)."""
    import hashlib
    from pathlib import Path

    wal = Path(f"{path}-wal")
    return hashlib.sha256(Path(path).read_bytes()).digest(), wal.stat().st_size if wal.exists() else 0


def test_a_database_with_damaged_pages_is_refused_before_writing_and_named_by_doctor(env, settings, fake_ctgov):
    import sqlite3

    studies = _stored_once(env, settings, fake_ctgov)
    word = max(studies[0]["protocolSection"]["identificationModule"]["briefTitle"].split(), key=len)
    conn = sqlite3.connect(settings.db_path)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'trials'").fetchone()[0]
    conn.close()
    with open(settings.db_path, "r+b") as db:  # HAND-MADE: the trials table's root page overwritten, as a failing disk would
        db.seek((root - 1) * page_size)
        db.write(bytes(range(256)) * (page_size // 256))
    before = _file_state(settings.db_path)
    result = CliRunner().invoke(cli, ["update"], env=env)
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert f"the database {settings.db_path} is damaged (" in result.output and "nothing more was written" in result.output
    assert ".recover | sqlite3 recovered.db" in result.output
    assert _file_state(settings.db_path) == before  # not a byte written
    for args in (["search", word], ["show", studies[0]["protocolSection"]["identificationModule"]["nctId"]], ["digest"]):
        shown = CliRunner().invoke(cli, args, env=env)
        assert shown.exit_code == 1 and shown.output.count("\n") == 1 and "is damaged (" in shown.output, (args, shown.output)
        assert "Traceback" not in shown.output and "internal error" not in shown.output
    doctor = CliRunner().invoke(cli, ["doctor"], env=env)
    assert doctor.exit_code == 1 and "PROBLEM  quick_check: damaged:" in doctor.output, doctor.output
    assert _file_state(settings.db_path) == before


def test_doctor_examines_a_file_whose_header_is_gone_check_by_check(env, settings, fake_ctgov):
    _stored_once(env, settings, fake_ctgov)
    with open(settings.db_path, "r+b") as db:  # HAND-MADE: the first page's header overwritten, as a failing disk would
        db.write(b"not a database header" * 4)
    doctor = CliRunner().invoke(cli, ["doctor"], env=env)
    assert doctor.exit_code == 1, doctor.output
    assert [line.split(":")[0] for line in doctor.output.splitlines()[:4]] == ["PROBLEM  schema", "PROBLEM  quick_check", "PROBLEM  text encoding", "PROBLEM  runs"], doctor.output
    assert ".recover | sqlite3 recovered.db" in doctor.output and "cannot open" not in doctor.output


def test_text_that_is_not_utf8_is_said_as_damage_without_its_bytes(env, settings, fake_ctgov):
    import sqlite3

    studies = _stored_once(env, settings, fake_ctgov)
    title = studies[0]["protocolSection"]["identificationModule"]["briefTitle"].encode("utf-8")
    body = open(settings.db_path, "rb").read()
    assert sqlite3.connect(settings.db_path).execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    body = open(settings.db_path, "rb").read()
    assert body.count(title) >= 1
    with open(settings.db_path, "wb") as db:  # HAND-MADE: the title's bytes turned into bytes that are no UTF-8
        db.write(body.replace(title, b"\xff\xfe" * (len(title) // 2) + b"\xff" * (len(title) % 2)))
    shown = CliRunner().invoke(cli, ["search", "--line", "line"], env=env)
    assert shown.exit_code == 1 and shown.output.count("\n") == 1, shown.output
    assert "is damaged (text that is not UTF-8 in column" in shown.output and "\\x" not in shown.output and "\ufffd" not in shown.output
    update = CliRunner().invoke(cli, ["update", "--full"], env=env)  # the stored row is read to compare: the update stops there
    assert update.exit_code == 1 and "is damaged (text that is not UTF-8 in column" in update.output and "\\x" not in update.output, update.output
    assert update.output.count("\n") == 1
    doctor = CliRunner().invoke(cli, ["doctor", "--json"], env=env)
    assert doctor.exit_code == 1
    found = {f["check"]: f for f in json.loads(doctor.output.split("\nError:")[0])}
    assert found["quick_check"]["ok"] and not found["text encoding"]["ok"] and "trials.title" in found["text encoding"]["text"]


def test_doctor_passes_a_sound_database_and_writes_nothing(env, settings, fake_ctgov):
    _stored_once(env, settings, fake_ctgov)
    before = _file_state(settings.db_path)
    result = CliRunner().invoke(cli, ["doctor", "--thorough"], env=env)
    assert result.exit_code == 0, result.output
    assert [line.split(":")[0] for line in result.output.splitlines()] == ["ok       schema", "ok       integrity_check", "ok       text encoding", "ok       runs"]
    assert _file_state(settings.db_path) == before
