"""The digest end to end: update, change upstream, update, digest; formats, escaping, bookkeeping, e-mail, `run`."""

import asyncio
import copy
from datetime import datetime, timezone
import re
import sqlite3
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from click.testing import CliRunner
from werkzeug import Response

from tracker.cli import cli

from .conftest import real_studies, write_query
from .test_pubmed import real_articles

ATOM = "{http://www.w3.org/2005/Atom}"
LINE_CT = {"query.cond": "alopecia"}


def invoke(env, *args, now):
    return CliRunner().invoke(cli, list(args), env={**env, "TRACKER_NOW": now}, catch_exceptions=False)


def set_entrez(article: str, y: int, m: int, d: int) -> str:
    return re.sub(
        r'(<PubMedPubDate PubStatus="entrez">\s*<Year>)\d+(</Year>\s*<Month>)\d+(</Month>\s*<Day>)\d+',
        rf"\g<1>{y}\g<2>{m}\g<3>{d}",
        article,
        count=1,
    )


@pytest.fixture
def world(env, settings, fake_ctgov, fake_pubmed):
    """Two lines over real records, a first update and a first digest on 2026-11-23."""
    studies = real_studies()
    fake_ctgov.set_studies(studies[:-1])
    articles = real_articles()
    fake_pubmed.articles = articles[:20]
    write_query(settings.queries_dir, "first", ctgov=LINE_CT, pubmed="hair AND stem cells", prefix="1-")
    write_query(settings.queries_dir, "second", ctgov={"query.term": "stem"}, prefix="2-", short="Stem trials")
    assert invoke(env, "update", now="2026-11-23T06:00:00Z").exit_code == 0
    first = invoke(env, "digest", now="2026-11-23T07:00:00Z")
    assert first.exit_code == 0, first.output
    return {"studies": studies, "articles": articles, "env": env, "settings": settings}


def change_upstream(world, fake_ctgov, fake_pubmed):
    recruiting = fake_ctgov.study("NCT04523987")["protocolSection"]["statusModule"]
    recruiting["overallStatus"] = "COMPLETED"
    recruiting["lastUpdatePostDateStruct"] = {"date": "2026-11-23", "type": "ACTUAL"}
    no_results = fake_ctgov.study("NCT03418623")
    no_results["hasResults"] = True
    no_results["protocolSection"]["statusModule"]["resultsFirstPostDateStruct"] = {"date": "2026-11-23", "type": "ACTUAL"}
    no_results["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"] = {"date": "2026-11-23", "type": "ACTUAL"}
    new_trial = copy.deepcopy(world["studies"][-1])
    new_trial["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"] = {"date": "2026-11-23", "type": "ACTUAL"}
    fake_ctgov.studies.append(new_trial)
    fake_pubmed.articles.append(set_entrez(world["articles"][25], 2026, 11, 23))
    return new_trial["protocolSection"]["identificationModule"]["nctId"], fake_pubmed.pmid(world["articles"][25])


def test_digest_lists_exactly_the_upstream_changes_each_as_old_to_new(world, fake_ctgov, fake_pubmed):
    env = world["env"]
    new_nct, new_pmid = change_upstream(world, fake_ctgov, fake_pubmed)
    assert invoke(env, "update", now="2026-11-24T06:00:00Z").exit_code == 0
    result = invoke(env, "digest", "--format", "all", now="2026-11-24T07:00:00Z")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "1 new trial, 2 changed trials, 1 new publication, 0 new trial-publication links, 2 new evidence signals."
    reports = Path(env["TRACKER_REPORTS"])
    md = (reports / "digest-2026-11-24.md").read_text()
    head, rest = md.split("## Needs attention", 1)
    attention, lines = rest.split("\n## ", 1)
    md = head + lines
    # the window's evidence signals: the new terminated trial and the one now completed never posted results; the
    # one that posted them resolves its signal
    assert re.findall(r"^- \*\*(.+?)\*\*: \[(NCT\d{8})\]", attention, re.M) == [("Results overdue", new_nct), ("Results overdue", "NCT04523987")]
    assert "No results posted on ClinicalTrials.gov 44 months after primary completion (Feb 2023, estimated); status Completed." in attention
    assert re.findall(r"^- (.+?): \[(NCT\d{8})\]", attention.split("Resolved in this window:")[1], re.M) == [
        ("Results overdue", "NCT03418623"), ("Status out of date", "NCT04523987")]
    # each says why it resolved: a resolved overdue signal is not always good news
    assert "(raised 23 Nov 2026): results posted on 23 Nov 2026\n" in attention
    assert "(raised 23 Nov 2026): status now Completed\n" in attention
    assert "Window: 23 Nov 2026, 07:00 UTC to 24 Nov 2026, 07:00 UTC." in md
    assert re.findall(r"\[(NCT\d{8})\]\(https://clinicaltrials.gov/study/\1\)", md) == [new_nct, "NCT03418623", "NCT04523987"]
    assert "  - Status: Recruiting → Completed" in md
    assert "  - **HIGH:** Results posted on 23 Nov 2026" in md  # results posted: a change of the highest level, listed first
    assert re.findall(r"\[PMID (\d+)\]", md) == [new_pmid]
    assert md.count("### New trials (1)") == 1 and md.count("### Changed trials (2)") == 1
    html = (reports / "digest-2026-11-24.html").read_text()
    ET.fromstring(html.split("\n", 1)[1])  # well-formed once the doctype line is set aside
    assert "Status: Recruiting → Completed" in html
    feed = ET.parse(reports / "feed.xml").getroot()
    assert feed.tag == f"{ATOM}feed"
    entries = feed.findall(f"{ATOM}entry")
    assert [e.find(f"{ATOM}title").text for e in entries] == ["Digest 2026-11-23 to 2026-11-24", "Baseline digest to 2026-11-23"]
    assert entries[0].find(f"{ATOM}link").get("href") == "digest-2026-11-24.html"
    assert all(e.find(f"{ATOM}id").text and e.find(f"{ATOM}updated").text for e in entries)


def test_same_window_gives_the_same_digest_and_one_bookkeeping_row(world, fake_ctgov, fake_pubmed):
    env = world["env"]
    change_upstream(world, fake_ctgov, fake_pubmed)
    assert invoke(env, "update", now="2026-11-24T06:00:00Z").exit_code == 0
    args = ("digest", "--since", "2026-11-24", "--until", "2026-11-25")
    assert invoke(env, *args, now="2026-11-25T08:00:00Z").exit_code == 0
    first = (Path(env["TRACKER_REPORTS"]) / "digest-2026-11-25.md").read_text()
    first_html = (Path(env["TRACKER_REPORTS"]) / "digest-2026-11-25.html").read_text()
    assert invoke(env, *args, now="2026-11-26T08:00:00Z").exit_code == 0
    assert (Path(env["TRACKER_REPORTS"]) / "digest-2026-11-25.md").read_text() == first
    assert (Path(env["TRACKER_REPORTS"]) / "digest-2026-11-25.html").read_text() == first_html
    conn = sqlite3.connect(env["TRACKER_DB"])
    windows = conn.execute("SELECT window_start, window_end FROM digests ORDER BY id").fetchall()
    conn.close()
    assert windows == [("1970-01-01T00:00:00Z", "2026-11-23T07:00:00Z"), ("2026-11-24T00:00:00Z", "2026-11-25T00:00:00Z")]


def test_a_quiet_week_says_so_plainly(world):
    env = world["env"]
    assert invoke(env, "update", now="2026-11-30T06:00:00Z").exit_code == 0
    result = invoke(env, "digest", "--format", "md", now="2026-11-30T07:00:00Z")
    assert result.output.splitlines()[0] == "A quiet week: no new or changed trials, no new publications and no new trial-publication links."
    md = (Path(env["TRACKER_REPORTS"]) / "digest-2026-11-30.md").read_text()
    assert "Nothing new in the 2 topic lines this week." in md and "## " not in md


def test_a_record_in_two_lines_is_shown_once_under_the_first_naming_the_other(world):
    assert invoke(world["env"], "digest", "--since", "2026-11-01", "--until", "2026-11-24", now="2026-11-24T07:00:00Z").exit_code == 0
    md = (Path(world["env"]["TRACKER_REPORTS"]) / "digest-2026-11-24.md").read_text()
    md = "## Line first" + md.split("## Line first", 1)[1]  # the lines' sections, after Needs attention
    both = "NCT04523987"
    assert md.count(f"[{both}]") == 1
    section = md.split("## Line second")[0]
    assert f"[{both}]" in section
    assert "Also in: Stem trials" in section  # the line's short name, not its whole title
    html = (Path(world["env"]["TRACKER_REPORTS"]) / "digest-2026-11-24.html").read_text()
    assert '<span class="meta">Also in: <a href="lines/second/digest-2026-11-24.html">Stem trials</a></span>' in html
    assert (Path(world["env"]["TRACKER_REPORTS"]) / "lines/second/digest-2026-11-24.html").is_file()  # the link leads somewhere
    on_its_page = (Path(world["env"]["TRACKER_REPORTS"]) / "lines/first/digest-2026-11-24.html").read_text()
    assert '<a href="../../lines/second/digest-2026-11-24.html">Stem trials</a>' in on_its_page


def test_the_first_digest_is_a_baseline_counts_per_line_and_source_the_ten_most_recent_and_the_command_for_the_rest(world):
    env = world["env"]
    md = (Path(env["TRACKER_REPORTS"]) / "digest-2026-11-23.md").read_text()
    conn = sqlite3.connect(env["TRACKER_DB"])
    stored = dict(((q, s), n) for q, s, n in conn.execute("SELECT query, source, count(*) FROM query_matches GROUP BY query, source"))
    assert md.startswith("# Stem-cell approaches to hair loss: baseline digest to 2026-11-23\n")
    assert f"| Line first | {stored['first', 'ctgov']} | {stored['first', 'pubmed']} |" in md
    assert f"| Line second | {stored['second', 'ctgov']} | 0 |" in md
    first = md.split("## Line first", 1)[1].split("\n## ", 1)[0]
    trials = first.split("### New trials (", 1)[1].split("###", 1)[0]
    total = int(trials.split(")", 1)[0])
    shown = re.findall(r"^- \*\*.+?\*\* \[(NCT\d{8})\]", trials, re.M)
    assert total == stored["first", "ctgov"] > 10 and len(shown) == 10
    # the ten most recently posted of the line (start date when a record lacks its posting date), newest first
    posted = dict(conn.execute("SELECT m.record_id, coalesce(t.first_posted_date, t.start_date, '') FROM query_matches m JOIN trials t ON t.nct_id = m.record_id "
                               "WHERE m.query = 'first' AND m.source = 'ctgov'"))
    assert [posted[n] for n in shown] == sorted(posted.values(), reverse=True)[:10]
    # a clinician gets a link, never a command: the line's own search on the registry's site
    assert f"{total - 10} more: [the same search on ClinicalTrials.gov](https://clinicaltrials.gov/search?cond=alopecia)." in trials
    assert "### New publications (20)" in first and len(re.findall(r"^- \*\*", first.split("### New publications", 1)[1], re.M)) == 10
    assert "10 more: [the same search on PubMed](https://pubmed.ncbi.nlm.nih.gov/?term=hair%20AND%20stem%20cells)." in first
    assert "`tracker " not in md
    html = (Path(env["TRACKER_REPORTS"]) / "digest-2026-11-23.html").read_text()
    assert "<title>Baseline digest to 2026-11-23" in html and f"<td>{stored['first', 'ctgov']}</td>" in html
    assert 'more: <a href="https://clinicaltrials.gov/search?cond=alopecia">the same search on ClinicalTrials.gov</a>.' in html
    assert "<code>tracker" not in html


def test_with_the_database_served_the_baseline_links_every_record_of_the_line_there(world, monkeypatch):
    """TRACKER_SERVE_URL set: the rest of a line is one link into `tracker serve`, and that page lists exactly the line's records."""
    from tracker import serve

    env = world["env"]
    again = invoke({**env, "TRACKER_SERVE_URL": "http://tracker.example:8001/"}, "digest", "--since", "1970-01-01",
                   "--until", "2026-11-24", "--format", "md", now="2026-11-24T08:00:00Z")
    assert again.exit_code == 0, again.output
    md = next(p for p in sorted(Path(env["TRACKER_REPORTS"]).glob("digest-2026-11-24*.md"))).read_text()
    first = md.split("## Line first", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"more: \[every one stored, in the tracker's database\]\(http://tracker\.example:8001(/tracker/trials\?[^)]*)\)", first)
    assert found, first[-600:]
    app = serve.datasette_app(Path(env["TRACKER_DB"]))

    async def fetch():
        return await app.client.get(found.group(1).replace("/trials?", "/trials.json?", 1) + "&_shape=array&_size=max")
    listed = {row["nct_id"] for row in asyncio.run(fetch()).json()}
    conn = sqlite3.connect(env["TRACKER_DB"])
    assert listed == {n for (n,) in conn.execute("SELECT record_id FROM query_matches WHERE query='first' AND source='ctgov' AND unmatched_at IS NULL")}


def test_hostile_titles_are_escaped_in_html_and_markdown(env, settings, fake_ctgov):
    study = copy.deepcopy(real_studies()[0])
    study["protocolSection"]["identificationModule"]["briefTitle"] = 'Cells <script>alert("x")</script> & more \x07 שלום'
    fake_ctgov.set_studies([study])
    write_query(settings.queries_dir, "line", ctgov=LINE_CT)
    assert invoke(env, "update", now="2026-11-23T06:00:00Z").exit_code == 0
    assert invoke(env, "digest", now="2026-11-23T07:00:00Z").exit_code == 0
    reports = Path(env["TRACKER_REPORTS"])
    html = (reports / "digest-2026-11-23.html").read_text()
    root = ET.fromstring(html.split("\n", 1)[1])
    assert "<script>" not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; more  שלום" in html
    titles = [el.text for el in root.iter("{http://www.w3.org/1999/xhtml}bdi") if el.text and "alert" in el.text]
    assert titles == ['Cells <script>alert("x")</script> & more  שלום']
    assert root.find(".//{http://www.w3.org/1999/xhtml}script") is None
    md = (reports / "digest-2026-11-23.md").read_text()
    assert r'Cells \<script>alert("x")\</script> & more שלום' in md and "\x07" not in md


def test_run_writes_the_digest_even_when_a_source_fails_and_exits_non_zero(env, settings, fake_ctgov, fake_pubmed):
    fake_ctgov.set_studies(real_studies()[:5])
    fake_pubmed.always = lambda request: Response("down", status=503)
    write_query(settings.queries_dir, "line", ctgov=LINE_CT, pubmed="stem cells")
    result = invoke(env, "run", now="2026-11-23T06:00:00Z")
    assert result.exit_code == 1
    assert "The baseline: the first digest of this database, with 5 trials and 0 publications across 1 topic line." in result.output
    assert "Not complete: line [pubmed] failed." in result.output
    assert result.output.strip().splitlines()[-1].startswith("Error: 1 of 2 updates failed; first: line [pubmed]: PubMed: esearch.fcgi failed after 4 attempts")
    md = (Path(env["TRACKER_REPORTS"]) / "digest-2026-11-23.md").read_text()
    assert "**Warning: this digest is incomplete.**" in md and "- line [pubmed]: failed: PubMed: esearch.fcgi failed" in md


def test_a_digest_after_failed_updates_never_calls_the_week_quiet(env, settings, fake_ctgov):
    fake_ctgov.always = lambda request: Response("down", status=503)
    write_query(settings.queries_dir, "line", ctgov=LINE_CT)
    result = invoke(env, "run", "--format", "md", now="2026-11-23T06:00:00Z")
    assert result.exit_code == 1
    summary = [line for line in result.output.splitlines() if not line.startswith(("WARNING", "line [", "wrote", "Error"))]
    assert summary == [
        "Nothing new was stored in this window, but updates failed, came back short or did not run, so this digest cannot say the week was quiet. "
        "Not complete: line [ctgov] failed."
    ]
    md = (Path(env["TRACKER_REPORTS"]) / "digest-2026-11-23.md").read_text()
    assert "quiet week" not in md and "Nothing new in the" not in md and "**Warning: this digest is incomplete.**" in md


def test_a_week_no_update_ran_is_never_called_quiet(env, settings, fake_ctgov):
    """A stopped scheduler, or a line added since the last update: nothing stored in the window is no news."""
    fake_ctgov.set_studies(real_studies()[:5])
    write_query(settings.queries_dir, "line", ctgov=LINE_CT)
    assert invoke(env, "run", "--format", "md", now="2026-11-23T06:00:00Z").exit_code == 0
    write_query(settings.queries_dir, "added", ctgov=LINE_CT)
    result = invoke(env, "digest", "--format", "md", now="2026-11-30T06:00:00Z")  # no update since the last digest
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        "Nothing new was stored in this window, but updates failed, came back short or did not run, so this digest cannot say "
        "the week was quiet. Not complete: added [ctgov] not updated; line [ctgov] not updated.")
    md = (Path(env["TRACKER_REPORTS"]) / "digest-2026-11-30.md").read_text()
    assert "quiet week" not in md and "Nothing new in the" not in md
    assert "- line [ctgov]: not updated: no update of this line ran in this window (last updated 23 Nov 2026, 06:00 UTC)" in md
    assert "- added [ctgov]: not updated: no update of this line ran in this window (never updated)" in md
    assert invoke(env, "run", "--format", "md", now="2026-12-07T06:00:00Z").exit_code == 0  # updated again: no warning
    assert "incomplete" not in (Path(env["TRACKER_REPORTS"]) / "digest-2026-12-07.md").read_text()


def test_an_incomplete_digest_says_so_in_its_e_mail_subject():
    from tracker.digest import Digest, digest_subject

    failed = {"source": "ctgov", "query": "line", "status": "failed", "error": "HTTP 503"}
    assert digest_subject(Digest("2026-11-17T06:00:00Z", "2026-11-24T06:00:00Z", [], [failed])) == (
        "Hair-loss stem-cell tracker: digest to 2026-11-24 (incomplete)")
    assert digest_subject(Digest("2026-11-17T06:00:00Z", "2026-11-24T06:00:00Z", [], [])) == "Hair-loss stem-cell tracker: digest to 2026-11-24"
    first = Digest("1970-01-01T00:00:00Z", "2026-11-24T06:00:00Z", [], [], baseline=[])
    assert digest_subject(first) == "Hair-loss stem-cell tracker: baseline digest to 2026-11-24"  # as its page is titled


def test_a_record_the_service_counted_and_never_returned_makes_the_digest_say_it_is_incomplete(world, fake_pubmed):
    env = world["env"]
    missing = set_entrez(world["articles"][20], 2026, 11, 28)
    fake_pubmed.articles.append(missing)
    fake_pubmed.withheld = {fake_pubmed.pmid(missing): 10**6}  # efetch never returns it, by history or by number
    assert invoke(env, "update", now="2026-11-30T06:00:00Z").exit_code == 0
    result = invoke(env, "digest", "--format", "md", now="2026-11-30T07:00:00Z")
    assert result.exit_code == 0, result.output
    assert "Not complete: first [pubmed] short." in result.output
    md = (Path(env["TRACKER_REPORTS"]) / "digest-2026-11-30.md").read_text()
    assert "**Warning: this digest is incomplete.**" in md
    assert (f"- first [pubmed]: short: 1 record the search counts came in no efetch answer, not stored: PMID {fake_pubmed.pmid(missing)}"
            in md)
    conn = sqlite3.connect(env["TRACKER_DB"])
    status, cursor = conn.execute("SELECT status, cursor FROM runs WHERE source = 'pubmed' ORDER BY id DESC LIMIT 1").fetchone()
    conn.close()
    assert (status, cursor) == ("ok", "2026-11-30")  # what came is kept and the window moves on; the digest says the gap
    fake_pubmed.withheld.clear()
    assert invoke(env, "update", now="2026-12-07T06:00:00Z").exit_code == 0
    later = invoke(env, "digest", "--format", "md", now="2026-12-07T07:00:00Z")
    assert "Not complete" not in later.output


def test_digest_is_emailed_through_a_real_local_smtp_server(world, fake_ctgov, fake_pubmed):
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(envelope)
            return "250 OK"

    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        env = {
            **world["env"],
            "TRACKER_SMTP_HOST": "127.0.0.1",
            "TRACKER_SMTP_PORT": str(port),
            "TRACKER_SMTP_FROM": "tracker@example.org",
            "TRACKER_SMTP_TO": "clinic@example.org, editor@example.org",
            "TRACKER_SMTP_STARTTLS": "false",
            "TRACKER_BASE_URL": "https://tracker.example.org/reports/",
        }
        change_upstream(world, fake_ctgov, fake_pubmed)
        result = invoke(env, "run", "--email", now="2026-11-24T06:00:00Z")
        assert result.exit_code == 0, result.output
        assert "e-mailed to clinic@example.org, editor@example.org" in result.output
    finally:
        controller.stop()
    [message] = inbox.messages
    assert message.rcpt_tos == ["clinic@example.org", "editor@example.org"]
    import email
    import email.policy
    import email.utils

    parsed = email.message_from_bytes(message.content, policy=email.policy.default)
    assert parsed["Subject"] == "Hair-loss stem-cell tracker: digest to 2026-11-24"  # complete: no "(incomplete)"
    assert parsed["From"] == "tracker@example.org"
    assert parsed["To"] == "clinic@example.org, editor@example.org"
    assert email.utils.parsedate_to_datetime(parsed["Date"]).isoformat() == "2026-11-24T06:00:01+00:00"
    assert re.fullmatch(r"<[^@<>\s]+@example\.org>", parsed["Message-ID"].strip())
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["List-Id"] == "Hair-loss stem-cell tracker digest <digest.tracker.example.org>"  # mail clients group and offer to leave
    assert parsed["List-Unsubscribe"] == "<mailto:tracker@example.org?subject=unsubscribe>"
    assert parsed.get_content_type() == "multipart/alternative"
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    page = "https://tracker.example.org/reports/digest-2026-11-24.html"
    assert text.get_content().startswith(f"View this digest in a browser: {page}\r\n")  # CRLF: mail line ends
    assert f'<a href="{page}">View this digest in a browser</a>' in html.get_content()
    assert "  - Status: Recruiting → Completed" in text.get_content()
    assert "Status: Recruiting → Completed" in html.get_content() and html.get_content().lstrip().startswith("<!DOCTYPE html>")


def test_a_mail_keeps_no_charts_and_a_long_digest_comes_attached(world, fake_ctgov, fake_pubmed, monkeypatch):
    """Inline SVG vanishes in Gmail and Outlook, and Gmail clips a body past about 102 kB: the mail has no charts, and
    a digest longer than the limit (lowered here so the recordings pass it) carries its head and the whole digest
    as an attachment, saying so."""
    import email
    import email.policy

    import tracker.digest as digest_module
    from tracker.digest import build_digest, render_html, send_digest
    from tracker.settings import load_settings
    from tracker.store import open_store
    from tracker.topics import load_queries

    change_upstream(world, fake_ctgov, fake_pubmed)
    assert invoke(world["env"], "update", now="2026-11-24T06:00:00Z").exit_code == 0
    settings = world["settings"]
    with open_store(settings.db_path) as store:
        built = build_digest(store, load_queries(settings.queries_dir), start="2026-11-23T07:00:00Z", end="2026-11-24T07:00:00Z")
    page, mail = render_html(built), render_html(built, mail=True)
    assert "<svg" in page and "<svg" not in mail and "Results overdue" in mail  # the same news, no charts
    assert page.index("<h3>") < page.index("<svg")  # on the page the week's news comes before a line's charts
    sent = []

    class Server:
        def __init__(self, *args, **kwargs): pass
        def __enter__(self): return self
        def __exit__(self, *exc): return False
        def send_message(self, message, to_addrs): sent.append(message)

    monkeypatch.setattr(digest_module.smtplib, "SMTP", Server)
    limit = len(mail.encode()) - 100
    monkeypatch.setattr(digest_module, "MAIL_CLIPPED", limit)
    mailed = load_settings({**world["env"], "TRACKER_SMTP_HOST": "localhost", "TRACKER_SMTP_FROM": "t@example.org",
                            "TRACKER_SMTP_TO": "c@example.org", "TRACKER_SMTP_STARTTLS": "false", "TRACKER_BASE_URL": "https://x.example/r"})
    send_digest(mailed, built, mail, "# digest\n\n" + "- a line\n\n" * 2000, now=datetime(2026, 11, 24, 7, tzinfo=timezone.utc))
    parsed = email.message_from_bytes(sent[0].as_bytes(), policy=email.policy.default)
    body = parsed.get_body(("html",)).get_content()
    assert len(body.encode()) < limit and "the whole digest is attached" in body and "Results overdue" in body
    [attached] = list(parsed.iter_attachments())
    whole = attached.get_content()
    assert attached.get_filename() == f"{built.file_stem}.html"
    assert whole.replace("\r\n", "\n").count("<li") == mail.count("<li") and whole.rstrip().endswith("</html>")  # the whole digest
    text = parsed.get_body(("plain",)).get_content()
    assert len(text.encode()) < limit and "the whole digest is attached and at https://x.example/r/" in text


def test_a_stored_paper_retracted_in_the_window_is_said_at_the_top(world, fake_ctgov, fake_pubmed):
    """HAND-MADE: a recorded article, stored in the first window, gains a retraction notice (as PubMed adds one)."""
    from datetime import date

    article = fake_pubmed.articles[0]
    pmid = fake_pubmed.pmid(article)
    retracted = article.replace("</PublicationTypeList>", "<PublicationType UI=\"D016441\">Retracted Publication</PublicationType></PublicationTypeList>", 1)
    assert retracted != article
    fake_pubmed.articles[0] = retracted
    fake_pubmed.modified[pmid] = date(2026, 11, 24)
    assert invoke(world["env"], "update", now="2026-11-24T06:00:00Z").exit_code == 0
    result = invoke(world["env"], "digest", "--format", "all", now="2026-11-24T07:00:00Z")
    assert result.exit_code == 0, result.output
    reports = Path(world["env"]["TRACKER_REPORTS"])
    md = (reports / "digest-2026-11-24.md").read_text()
    top = md.split("\n## Line ", 1)[0]
    assert "## Needs attention" in top and "**Retracted in this window**" in top
    assert f"[PMID {pmid}](https://pubmed.ncbi.nlm.nih.gov/{pmid}/)" in top
    assert "### Corrected or retracted publications (1)" in md  # and still under its line
    html = (reports / "digest-2026-11-24.html").read_text()
    assert html.index('<section id="retracted">') < html.index("<section>\n<h2>")


def test_bad_dates_get_one_line(env, settings):
    write_query(settings.queries_dir, "line", ctgov=LINE_CT)
    result = CliRunner().invoke(cli, ["digest", "--since", "2026-13-01"], env=env)
    assert result.exit_code == 2 and "'2026-13-01' is not a calendar date of the form YYYY-MM-DD" in result.output
    result = CliRunner().invoke(cli, ["digest", "--since", "2026-11-02", "--until", "2026-11-01"], env=env)
    assert result.exit_code == 1 and result.output.strip() == "Error: empty digest window: 2026-11-02T00:00:00Z is not before 2026-11-01T00:00:00Z"


JOIN_COUNTS = """
SELECT m.query, 'pubmed' AS source, p.pub_year AS year, p.first_seen_at, count(*) AS n
  FROM query_matches m JOIN publications p ON p.pmid = m.record_id WHERE m.source = 'pubmed' AND p.pub_year IS NOT NULL
 GROUP BY 1, 2, 3, 4
UNION ALL
SELECT m.query, 'ctgov', CAST(substr(t.start_date, 1, 4) AS INTEGER), t.first_seen_at, count(*)
  FROM query_matches m JOIN trials t ON t.nct_id = m.record_id WHERE m.source = 'ctgov' AND t.start_date IS NOT NULL
 GROUP BY 1, 2, 3, 4
ORDER BY 1, 2, 3, 4
"""


def test_the_chart_counts_kept_on_save_equal_a_recount_from_the_matches(world, fake_ctgov, fake_pubmed):
    env = world["env"]
    change_upstream(world, fake_ctgov, fake_pubmed)
    moved = fake_ctgov.study("NCT02552212")["protocolSection"]["statusModule"]
    moved["startDateStruct"] = {"date": "2031-01", "type": "ESTIMATED"}  # a start year that moves
    moved["lastUpdatePostDateStruct"] = {"date": "2026-11-23", "type": "ACTUAL"}
    write_query(world["settings"].queries_dir, "third", ctgov={"query.term": "late"}, prefix="3-")  # matches known trials
    assert invoke(env, "update", now="2026-11-24T06:00:00Z").exit_code == 0
    conn = sqlite3.connect(env["TRACKER_DB"])
    kept = conn.execute(
        "SELECT query, source, year, first_seen_at, sum(n) FROM line_years WHERE year > 0 GROUP BY 1, 2, 3, 4 HAVING sum(n) > 0 ORDER BY 1, 2, 3, 4"
    ).fetchall()
    recount = conn.execute(JOIN_COUNTS).fetchall()
    conn.close()
    assert kept == recount
    assert ("third", "ctgov", 2031, "2026-11-23T06:00:00Z", 1) in kept and ("first", "ctgov", 2031, "2026-11-23T06:00:00Z", 1) in kept


def test_every_feed_reads_in_feedparser_with_the_whole_digest_and_stable_absolute_links(world, fake_ctgov, fake_pubmed):
    import feedparser

    env = {**world["env"], "TRACKER_BASE_URL": "https://reports.example.org/tracker/"}
    change_upstream(world, fake_ctgov, fake_pubmed)
    assert invoke(env, "update", now="2026-11-24T06:00:00Z").exit_code == 0
    assert invoke(env, "digest", now="2026-11-24T07:00:00Z").exit_code == 0
    reports = Path(env["TRACKER_REPORTS"])
    main = feedparser.parse(str(reports / "feed.xml"))
    assert main.bozo == 0, main.bozo_exception
    assert main.feed.id == "urn:tracker:digests"
    newest = main.entries[0]
    assert newest.id == "urn:tracker:digest:2026-11-23T07:00:00Z/2026-11-24T07:00:00Z"
    assert newest.link == "https://reports.example.org/tracker/digest-2026-11-24.html"
    assert newest.content[0].type == "text/html"
    page = (reports / "digest-2026-11-24.html").read_text()
    assert "Status: Recruiting → Completed" in newest.content[0].value and "Needs attention" in newest.content[0].value
    assert newest.content[0].value.count("<h2>") == page.count("<h2>")  # the whole digest, not a one-line summary

    for name, title in (("first", "Line first"), ("second", "Line second")):
        feed = feedparser.parse(str(reports / "lines" / name / "feed.xml"))
        assert feed.bozo == 0, feed.bozo_exception
        assert feed.feed.id == f"urn:tracker:line:{name}" and feed.feed.title.endswith(f": {title}")
        assert [e.link for e in feed.entries] == [f"https://reports.example.org/tracker/lines/{name}/digest-2026-11-24.html",
                                                 f"https://reports.example.org/tracker/lines/{name}/digest-2026-11-23.html"]
        assert all(e.id.startswith(f"urn:tracker:line:{name}:digest:") for e in feed.entries)
    first_line = feedparser.parse(str(reports / "lines" / "first" / "feed.xml")).entries[0].content[0].value
    second_line = feedparser.parse(str(reports / "lines" / "second" / "feed.xml")).entries[0].content[0].value
    assert "Line first" in first_line and "<h2>Line second</h2>" not in first_line
    assert "<h2>Line first</h2>" not in second_line

    # regenerating the same window keeps every id (a feed reader shows no duplicate)
    again = invoke(env, "digest", "--since", "2026-11-23", "--until", "2026-11-24", now="2026-11-24T08:00:00Z")
    assert again.exit_code == 0
    ids_before = [e.id for e in main.entries]
    after = feedparser.parse(str(reports / "feed.xml"))
    assert set(ids_before) <= {e.id for e in after.entries}


def test_an_incomplete_digest_says_so_in_its_feed_entry_titles_and_in_the_feed_of_the_line_it_concerns(world, fake_pubmed):
    import feedparser

    env = world["env"]
    fake_pubmed.always = lambda request: Response("down", status=503)  # only the line "first" has a PubMed search
    assert invoke(env, "update", now="2026-11-24T06:00:00Z").exit_code == 1
    assert invoke(env, "digest", now="2026-11-24T07:00:00Z").exit_code == 0
    reports = Path(env["TRACKER_REPORTS"])
    titles = [e.title for e in feedparser.parse(str(reports / "feed.xml")).entries]
    assert titles == ["Digest 2026-11-23 to 2026-11-24 (incomplete)", "Baseline digest to 2026-11-23"]  # not "Digest 1970-01-01 to ..."
    first = [e.title for e in feedparser.parse(str(reports / "lines" / "first" / "feed.xml")).entries]
    second = [e.title for e in feedparser.parse(str(reports / "lines" / "second" / "feed.xml")).entries]
    assert first[0] == "Line first: digest 2026-11-23 to 2026-11-24 (incomplete)"
    assert second[0] == "Line second: digest 2026-11-23 to 2026-11-24"  # its own update went well
    page = (reports / "digest-2026-11-24.html").read_text()
    assert "<title>Digest 2026-11-23 to 2026-11-24 (incomplete): stem-cell approaches to hair loss</title>" in page
    assert "<h1>Stem-cell approaches to hair loss: digest 2026-11-23 to 2026-11-24</h1>" in page  # the warning follows


def test_without_a_base_url_feed_links_are_relative(world):
    import feedparser

    feed = feedparser.parse(str(Path(world["env"]["TRACKER_REPORTS"]) / "feed.xml"))
    assert feed.entries[0].links[0].href.endswith("digest-2026-11-23.html")
    raw = (Path(world["env"]["TRACKER_REPORTS"]) / "feed.xml").read_text()
    assert 'href="digest-2026-11-23.html"' in raw


def test_a_template_cache_that_cannot_be_read_or_written_never_stops_a_digest(world, tmp_path, monkeypatch):
    from tracker import digest as digest_module
    from tracker import templating

    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the cache directory should be")
    monkeypatch.setattr(templating, "_template_cache", lambda: templating.TemplateCache(directory=str(blocked)))
    digest_module._environment.cache_clear()
    try:
        result = invoke(world["env"], "digest", "--since", "2026-11-01", "--until", "2026-11-24", now="2026-11-24T07:00:00Z")
        assert result.exit_code == 0, result.output
        assert "## Line first" in (Path(world["env"]["TRACKER_REPORTS"]) / "digest-2026-11-24.md").read_text()
    finally:
        digest_module._environment.cache_clear()


def test_compiled_templates_are_kept_in_the_users_cache_directory_not_the_temp_dir(world, tmp_path, monkeypatch):
    from tracker import digest as digest_module

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "no-such-temp"))  # the temp dir is not where they go
    digest_module._environment.cache_clear()
    try:
        result = invoke(world["env"], "digest", "--since", "2026-11-01", "--until", "2026-11-24", now="2026-11-24T07:00:00Z")
        assert result.exit_code == 0, result.output
    finally:
        digest_module._environment.cache_clear()
    kept = tmp_path / "cache" / "tracker" / "templates"
    assert len(list(kept.glob("__jinja2_*.cache"))) >= 2  # the Markdown and the HTML digest at least
    assert kept.stat().st_mode & 0o777 == 0o700


def test_a_first_run_whose_updates_all_failed_does_not_use_up_the_baseline(env, settings, fake_ctgov):
    fake_ctgov.always = lambda request: Response("down", status=503)
    write_query(settings.queries_dir, "line", ctgov=LINE_CT)
    assert invoke(env, "run", "--format", "md", now="2026-11-23T06:00:00Z").exit_code == 1
    fake_ctgov.always = None
    fake_ctgov.set_studies(real_studies())
    assert invoke(env, "run", "--format", "md", now="2026-11-24T06:00:00Z").exit_code == 0
    md = (Path(env["TRACKER_REPORTS"]) / "digest-2026-11-24.md").read_text()
    assert md.startswith("# Stem-cell approaches to hair loss: baseline digest to 2026-11-24\n")
    assert len(re.findall(r"^- \*\*.+?\*\* \[NCT\d{8}\]", md.split("### New trials", 1)[1], re.M)) == 10
    # and the digest after it is an ordinary one
    assert invoke(env, "run", "--format", "md", now="2026-11-25T06:00:00Z").exit_code == 0
    assert "baseline" not in (Path(env["TRACKER_REPORTS"]) / "digest-2026-11-25.md").read_text().split("\n", 1)[0]


def test_dates_read_as_a_person_writes_them_and_a_date_made_precise_is_not_a_move():
    from tracker.labels import date_label, describe_changes

    assert [date_label(v) for v in ("2026-03-15", "2026-03", "2026", None)] == ["15 Mar 2026", "Mar 2026", "2026", "none"]
    assert [date_label(v) for v in ("2026-00", "2026-13-01", "2026-3-1", "soon")] == ["2026-00", "2026-13-01", "2026-3-1", "soon"]

    def change(old, new):
        return [said.text for said in describe_changes([{"field": "primary_completion_date", "old_value": old, "new_value": new}], {})]

    # an estimated month becoming an actual day inside it is the same date, stated more precisely
    assert change("2026-03", "2026-03-31") == ["Primary completion date: Mar 2026 → 31 Mar 2026"]
    assert change("2026", "2026-05") == ["Primary completion date: 2026 → May 2026"]
    assert change("2026-03", "2026-04-01") == ["Primary completion date: Mar 2026 → 1 Apr 2026 (slipped)"]
    assert change("2026-03-15", "2026-03-01") == ["Primary completion date: 15 Mar 2026 → 1 Mar 2026 (brought forward)"]
    assert change(None, "2031-01") == ["Primary completion date: none → Jan 2031"]


def test_results_submitted_and_not_yet_posted_is_a_change_a_clinician_reads(world, fake_ctgov):
    from tracker.labels import describe_changes

    submitted = {"field": "results_first_submit_date", "old_value": None, "new_value": "2026-11-27"}
    assert [(s.text, s.level) for s in describe_changes([submitted], {})] == [("Results submitted on 27 Nov 2026 (in quality control, not yet posted)", "medium")]
    posted = {"field": "has_results", "old_value": "false", "new_value": "true"}
    assert [(s.text, s.level) for s in describe_changes([submitted, posted], {"results_first_posted_date": "2026-11-28"})] == [("Results posted on 28 Nov 2026", "high")]
    # through an update and the digest
    status = fake_ctgov.study("NCT04523987")["protocolSection"]["statusModule"]
    status["resultsFirstSubmitDate"] = "2026-11-27"
    status["lastUpdatePostDateStruct"] = {"date": "2026-11-28", "type": "ACTUAL"}
    env = world["env"]
    assert invoke(env, "update", "--source", "ctgov", now="2026-11-30T06:00:00Z").exit_code == 0
    result = invoke(env, "digest", "--format", "md", now="2026-11-30T07:00:00Z")
    assert result.exit_code == 0, result.output
    md = (Path(env["TRACKER_REPORTS"]) / "digest-2026-11-30.md").read_text()
    assert "  - Results submitted on 27 Nov 2026 (in quality control, not yet posted)" in md, md


def test_summaries_link_their_nct_numbers_and_pmids_and_stay_escaped():
    from tracker.reports import html_linked, md_linked
    from tracker.templating import template_environment

    text = "Published, no registry results: PMID 21994333, 28348497. Follow NCT99999901. <b>x</b> & [y]"
    assert str(html_linked(text)) == (
        'Published, no registry results: PMID <a href="https://pubmed.ncbi.nlm.nih.gov/21994333/">21994333</a>, '
        '<a href="https://pubmed.ncbi.nlm.nih.gov/28348497/">28348497</a>. '
        'Follow <a href="https://clinicaltrials.gov/study/NCT99999901">NCT99999901</a>. &lt;b&gt;x&lt;/b&gt; &amp; [y]'
    )
    assert md_linked(text) == (
        "Published, no registry results: PMID [21994333](https://pubmed.ncbi.nlm.nih.gov/21994333/), "
        "[28348497](https://pubmed.ncbi.nlm.nih.gov/28348497/). Follow [NCT99999901](https://clinicaltrials.gov/study/NCT99999901). "
        "\\<b>x\\</b> & \\[y\\]"
    )
    assert md_linked("enrolled 12345678 people; NCT1234 is short") == "enrolled 12345678 people; NCT1234 is short"
    rendered = template_environment(True).from_string("{{ s | linked }}").render(s="PMID 1 <i>")
    assert rendered == 'PMID <a href="https://pubmed.ncbi.nlm.nih.gov/1/">1</a> &lt;i&gt;'


def test_a_lines_search_on_the_registrys_own_site_carries_its_fields_and_filters():
    from urllib.parse import parse_qs, urlsplit

    from tracker.sources.ctgov.params import website_search

    url = website_search({"query.cond": "androgenetic alopecia", "query.intr": '"stem cell"', "filter.advanced": "AREA[StudyType]INTERVENTIONAL",
                          "filter.overallStatus": "RECRUITING,NOT_YET_RECRUITING"})
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "clinicaltrials.gov", "/search")
    assert parse_qs(parts.query) == {"cond": ["androgenetic alopecia"], "intr": ['"stem cell"'],
                                     "term": ["(AREA[StudyType]INTERVENTIONAL) AND (AREA[OverallStatus](RECRUITING OR NOT_YET_RECRUITING))"]}
