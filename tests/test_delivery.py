"""Every digest window delivered exactly once, and failures of the surroundings said as what they are: an SMTP server
refusing the e-mail, an unwritable report file, a file-size limit on the database, two digests in one day, ad hoc
windows and future ones, a line's page listing its records placed under another line. Against the local fakes
serving real recordings (tests/fakes.py) and a real local SMTP server (aiosmtpd)."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import feedparser
from click.testing import CliRunner

from tracker.cli import cli

from .conftest import real_studies, write_query
from .test_pubmed import real_articles


def invoke(env, *args, now: str):
    return CliRunner().invoke(cli, list(args), env={**env, "TRACKER_NOW": now})


def digests(db) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT window_start, window_end, file_stem, ad_hoc FROM digests ORDER BY id").fetchall()
    finally:
        conn.close()


def setup(env, settings, fake_ctgov, fake_pubmed):
    studies = real_studies()
    fake_ctgov.set_studies(studies)
    fake_pubmed.articles = real_articles()[:10]
    write_query(settings.queries_dir, "first", ctgov={"query.cond": "alopecia"}, pubmed="stem cells", prefix="1-")
    write_query(settings.queries_dir, "second", ctgov={"query.term": "stem"}, prefix="2-")
    assert invoke(env, "update", now="2026-11-23T06:00:00Z").exit_code == 0
    return studies


def refusing_smtp() -> tuple[object, int]:
    from aiosmtpd.controller import Controller

    class Refuse:
        async def handle_DATA(self, server, session, envelope):
            return "554 5.7.1 message refused"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Refuse(), hostname="127.0.0.1", port=port)
    controller.start()
    return controller, port


def test_a_digest_whose_email_is_refused_is_not_recorded_and_the_next_run_covers_its_window(env, settings, fake_ctgov, fake_pubmed):
    setup(env, settings, fake_ctgov, fake_pubmed)
    controller, port = refusing_smtp()
    try:
        mail = {**env, "TRACKER_SMTP_HOST": "127.0.0.1", "TRACKER_SMTP_PORT": str(port), "TRACKER_SMTP_FROM": "t@example.org",
                "TRACKER_SMTP_TO": "c@example.org", "TRACKER_SMTP_STARTTLS": "false"}
        failed = invoke(mail, "digest", "--email", now="2026-11-23T07:00:00Z")
    finally:
        controller.stop()
    assert failed.exit_code == 1 and "could not e-mail the digest" in failed.output and failed.output.count("\n") == 1
    assert digests(env["TRACKER_DB"]) == []  # not delivered, so not done
    assert not list(Path(env["TRACKER_REPORTS"]).rglob("digest-*"))  # and nothing of it left behind
    again = invoke(env, "digest", now="2026-11-24T07:00:00Z")
    assert again.exit_code == 0, again.output
    [(start, end, stem, ad_hoc)] = digests(env["TRACKER_DB"])
    assert (start, end, stem, ad_hoc) == ("1970-01-01T00:00:00Z", "2026-11-24T07:00:00Z", "digest-2026-11-24", 0)


def test_two_digests_in_one_day_keep_their_own_pages_and_feed_links(env, settings, fake_ctgov, fake_pubmed):
    setup(env, settings, fake_ctgov, fake_pubmed)
    assert invoke(env, "digest", now="2026-11-23T07:00:00Z").exit_code == 0
    assert invoke(env, "update", now="2026-11-23T18:00:00Z").exit_code == 0
    assert invoke(env, "digest", now="2026-11-23T19:00:00Z").exit_code == 0
    stems = [row[2] for row in digests(env["TRACKER_DB"])]
    assert stems == ["digest-2026-11-23", "digest-2026-11-23-190000"]
    reports = Path(env["TRACKER_REPORTS"])
    assert (reports / "digest-2026-11-23.html").read_text(encoding="utf-8") != (reports / "digest-2026-11-23-190000.html").read_text(encoding="utf-8")
    feed = feedparser.parse(str(reports / "feed.xml"))
    links = {entry.link for entry in feed.entries}
    assert links == {"digest-2026-11-23.html", "digest-2026-11-23-190000.html"}
    for entry in feed.entries:  # each entry's content is the page's body as a fragment, not a whole document
        content = entry.content[0].value
        assert "<h1" in content and "<!DOCTYPE" not in content and "<head" not in content and "<style" not in content
    line_links = {entry.link for entry in feedparser.parse(str(reports / "lines" / "first" / "feed.xml")).entries}
    assert line_links == {"lines/first/digest-2026-11-23.html", "lines/first/digest-2026-11-23-190000.html"}


def test_an_ad_hoc_window_never_moves_the_schedule_and_a_future_one_is_refused(env, settings, fake_ctgov, fake_pubmed):
    setup(env, settings, fake_ctgov, fake_pubmed)
    assert invoke(env, "digest", now="2026-11-23T07:00:00Z").exit_code == 0
    ad_hoc = invoke(env, "digest", "--since", "2026-11-01", "--until", "2026-11-24", now="2026-11-24T07:00:00Z")
    assert ad_hoc.exit_code == 0, ad_hoc.output
    future = invoke(env, "digest", "--until", "2026-12-01", now="2026-11-24T07:00:00Z")
    assert future.exit_code == 1 and "ends the window in the future" in future.output and future.output.count("\n") == 1
    assert invoke(env, "digest", now="2026-11-30T07:00:00Z").exit_code == 0
    rows = digests(env["TRACKER_DB"])
    assert rows[1][3] == 1 and rows[2][:2] == ("2026-11-23T07:00:00Z", "2026-11-30T07:00:00Z")  # after the scheduled one, not the ad hoc


def test_a_lines_page_lists_its_records_placed_under_another_line(env, settings, fake_ctgov, fake_pubmed):
    studies = setup(env, settings, fake_ctgov, fake_pubmed)
    assert invoke(env, "digest", now="2026-11-23T07:00:00Z").exit_code == 0
    shared = [s["protocolSection"]["identificationModule"]["nctId"] for s in studies]
    combined = (Path(env["TRACKER_REPORTS"]) / "digest-2026-11-23.html").read_text(encoding="utf-8")
    second = (Path(env["TRACKER_REPORTS"]) / "lines" / "second" / "digest-2026-11-23.html").read_text(encoding="utf-8")
    # a study both lines return is placed once, under "first", in the combined digest; the second line's page lists it
    in_both = [n for n in shared if n in second and n in combined]
    assert in_both and 'Also in: <a href="../../lines/first/digest-2026-11-23.html">first</a>' in second
    assert "A quiet week" not in second


def test_a_file_size_limit_on_the_database_is_one_line_and_the_next_run_heals(env, settings, fake_ctgov, fake_pubmed, tmp_path):
    fake_ctgov.set_studies(real_studies())
    fake_pubmed.articles = real_articles()[:10]
    write_query(settings.queries_dir, "first", ctgov={"query.cond": "alopecia"}, pubmed="stem cells")
    LIMIT = 1_500_000  # bytes: the schema fits, the line's studies (17.7 kB each at real size) do not
    script = (f"LIMIT = {LIMIT}; import resource, sys; from tracker.cli import cli; "
              "resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT)); sys.argv = ['tracker', 'update']; cli()")
    limited = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             env={**os.environ, **env, "TRACKER_NOW": "2026-11-23T06:00:00Z"}, timeout=120)
    output = limited.stdout + limited.stderr
    assert limited.returncode == 1, output
    # the limit is met by the update's spool or by the database, whichever writes past it first: said as what it is
    assert ("file-size limit" in output or "disk I/O error" in output) and "Traceback" not in output and "internal error" not in output
    assert output.count("Error:") == 1  # once, not once per line
    healed = invoke(env, "update", now="2026-11-23T07:00:00Z")
    assert healed.exit_code == 0, healed.output
    conn = sqlite3.connect(settings.db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT count(*) FROM trials").fetchone()[0] == len(real_studies())
    finally:
        conn.close()


def test_an_unwritable_report_directory_is_one_line_and_records_no_digest(env, settings, fake_ctgov, fake_pubmed, tmp_path):
    setup(env, settings, fake_ctgov, fake_pubmed)
    blocked = tmp_path / "reports-is-a-file"
    blocked.write_text("not a directory", encoding="utf-8")
    result = invoke({**env, "TRACKER_REPORTS": str(blocked)}, "digest", now="2026-11-23T07:00:00Z")
    assert result.exit_code == 1 and result.output.count("\n") == 1 and str(blocked) in result.output, result.output
    assert digests(env["TRACKER_DB"]) == []
    assert invoke(env, "digest", now="2026-11-23T08:00:00Z").exit_code == 0  # the next run, with a writable directory, heals
    assert digests(env["TRACKER_DB"])[0][:2] == ("1970-01-01T00:00:00Z", "2026-11-23T08:00:00Z")
