"""`tracker serve`: Datasette over a database made by real updates, exercised through Datasette's own client:
metadata, facets, readable list columns, plain-text search, the canned queries, and that nothing can write."""

import asyncio
import hashlib
import json
import re
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from tracker import serve
from tracker.cli import cli

from .conftest import real_studies, write_query
from .test_pubmed import real_articles

RETRACTED_TYPE = '<PublicationType UI="D016441">Retracted Publication</PublicationType></PublicationTypeList>'


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def update(env, now: datetime):
    result = CliRunner().invoke(cli, ["update"], env={**env, "TRACKER_NOW": iso(now)})
    assert result.exit_code == 0, result.output


@pytest.fixture
def served(env, settings, fake_ctgov, fake_pubmed):
    """Two lines, two updates (the second today, so changes_this_week has them), one retracted paper, and the app."""
    today = datetime.now(timezone.utc).replace(microsecond=0)
    studies = real_studies()
    fake_ctgov.set_studies(studies)
    articles = real_articles()[:30]
    with_abstract = next(i for i, a in enumerate(articles) if re.search(r"<AbstractText[^>]*>", a) and i != 2)
    linked_nct = studies[0]["protocolSection"]["identificationModule"]["nctId"]
    articles[with_abstract] = re.sub(r"(<AbstractText[^>]*>)", rf"\1Registered as {linked_nct}. ", articles[with_abstract], count=1)
    fake_pubmed.articles = list(articles)
    write_query(settings.queries_dir, "alopecia-line", ctgov={"query.cond": "alopecia"}, pubmed="hair AND stem cells", prefix="1-")
    write_query(settings.queries_dir, "stem-line", ctgov={"query.term": "stem"}, prefix="2-")
    update(env, today - timedelta(days=30))
    first = next(s for s in studies if "statusModule" in s["protocolSection"])
    edited = fake_ctgov.study(first["protocolSection"]["identificationModule"]["nctId"])
    status = edited["protocolSection"]["statusModule"]
    status["overallStatus"] = "TERMINATED" if status.get("overallStatus") != "TERMINATED" else "COMPLETED"
    status["lastUpdatePostDateStruct"] = {"date": today.date().isoformat(), "type": "ACTUAL"}
    fake_pubmed.articles[2] = articles[2].replace("</PublicationTypeList>", RETRACTED_TYPE, 1)
    fake_pubmed.modified[fake_pubmed.pmid(articles[2])] = today.date()
    update(env, today)
    return {"env": env, "db": settings.db_path, "linked": (linked_nct, fake_pubmed.pmid(articles[with_abstract])), "edited": edited["protocolSection"]["identificationModule"]["nctId"],
            "retracted": fake_pubmed.pmid(articles[2]), "app": serve.datasette_app(settings.db_path)}


def get(app, path: str):
    async def fetch():
        return await app.client.get(path)

    return asyncio.run(fetch())


def rows(db, sql: str, params=()):
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def test_the_pages_carry_title_sources_terms_and_column_descriptions(served):
    meta = get(served["app"], "/-/metadata.json").json()
    assert meta["title"] == "Stem-cell approaches to hair loss: trials and publications"
    tables = meta["databases"]["tracker"]["tables"]
    assert tables["trials"]["source_url"] == "https://clinicaltrials.gov/" and "terms" in tables["trials"]["license"]
    assert tables["publications"]["license_url"] == serve.NLM_TERMS and "publishers" in tables["publications"]["license"]
    page = get(served["app"], "/tracker/trials")
    assert page.status_code == 200
    html = page.text
    assert "One row per registered trial returned by a topic line." in html
    assert 'data-column-description="Last participant&#39;s primary outcome measured' in html
    assert 'href="https://clinicaltrials.gov/about-site/terms-conditions"' in html
    # the descriptions sit in a compact box (the shipped stylesheet), not a page of text above the table
    assert 'href="/tracker-assets/serve.css"' in html
    css = get(served["app"], "/tracker-assets/serve.css")
    assert css.status_code == 200 and "dl.column-descriptions" in css.text
    stored = {c for (c,) in rows(served["db"], "SELECT name FROM pragma_table_info('trials')")}
    assert stored <= set(serve.TRIAL_COLUMNS), "every trial column is described"
    stored = {c for (c,) in rows(served["db"], "SELECT name FROM pragma_table_info('publications')")}
    assert stored <= set(serve.PUBLICATION_COLUMNS), "every publication column is described"


def test_trials_and_publications_are_faceted_as_configured_with_counts_the_database_agrees_with(served):
    trials = get(served["app"], "/tracker/trials.json").json()
    facets = trials["facet_results"]
    assert set(facets) == {"overall_status", "phases", "study_type", "topic_lines"}
    by_status = {f["value"]: f["count"] for f in facets["overall_status"]["results"]}
    assert by_status == dict(rows(served["db"], "SELECT overall_status, count(*) FROM trials WHERE overall_status IS NOT NULL "
                                                "GROUP BY overall_status ORDER BY count(*) DESC LIMIT 30"))
    by_line = {f["value"]: f["count"] for f in facets["topic_lines"]["results"]}
    assert by_line == dict(rows(served["db"], "SELECT query, count(*) FROM query_matches WHERE source = 'ctgov' AND unmatched_at IS NULL "
                                              "GROUP BY query"))
    publications = get(served["app"], "/tracker/publications.json").json()["facet_results"]
    assert set(publications) == {"pub_year", "journal", "publication_types", "topic_lines"}
    types = {f["value"]: f["count"] for f in publications["publication_types"]["results"]}
    assert types["Retracted Publication"] == 1


def test_list_columns_read_as_plain_text_and_raw_payloads_as_their_size(served):
    html = get(served["app"], "/tracker/trials?_size=max").text
    cells = re.findall(r'<td class="col-conditions[^"]*"[^>]*>(.*?)</td>', html, re.S)
    assert cells and not any("[&#34;" in c or '["' in c or "&#34;" in c for c in cells)
    listed = rows(served["db"], "SELECT conditions FROM trials WHERE conditions LIKE '%\", \"%' LIMIT 1")[0][0]
    assert "; ".join(json.loads(listed)).replace("'", "&#39;") in html
    raw = re.findall(r'<td class="col-raw_json[^"]*"[^>]*>(.*?)</td>', html, re.S)
    assert raw and all(re.fullmatch(r'\s*<span class="raw">\d+\.\d kB as the API returned it; see the row page.s \.json</span>\s*', c) for c in raw)


def test_search_box_searches_plain_text_and_a_list_column(served):
    condition = rows(served["db"], "SELECT conditions FROM trials WHERE conditions LIKE '%\", \"%' LIMIT 1")[0][0]
    word = re.findall(r"[A-Za-z]{5,}", json.loads(condition)[-1])[0]
    found = get(served["app"], f"/tracker/trials.json?_search={word}&_shape=objects&_size=max").json()["rows"]
    expected = {n for (n,) in rows(served["db"], "SELECT t.nct_id FROM trials_fts f JOIN trials t ON t.rowid = f.rowid "
                                                  "WHERE trials_fts MATCH ?", (f'"{word}"',))}
    assert {r["nct_id"] for r in found} == expected and expected
    page = get(served["app"], f"/tracker/trials?_search={word}").text
    assert 'name="_search"' in page


def test_canned_queries_answer_what_they_are_named_for(served):
    app, db = served["app"], served["db"]

    def canned(name):
        result = get(app, f"/tracker/{name}.json?_shape=objects&_size=max")
        assert result.status_code == 200, result.text
        return result.json()["rows"]

    before = {r["nct_id"] for r in canned("recruiting_now")}
    gone, merged = sorted(before)[:2]
    with sqlite3.connect(db) as conn:  # one record the registry deleted, one it merged into another number
        conn.execute("UPDATE trials SET removed_at = '2026-11-24T06:00:00Z' WHERE nct_id = ?", (gone,))
        conn.execute("UPDATE trials SET merged_into = 'NCT99999901' WHERE nct_id = ?", (merged,))
    recruiting = canned("recruiting_now")
    assert {r["nct_id"] for r in recruiting} == before - {gone, merged}
    assert before == {n for (n,) in rows(db, "SELECT nct_id FROM trials WHERE overall_status = 'RECRUITING'")}
    assert recruiting
    overdue = canned("results_overdue")
    assert sorted(r["nct_id"] for r in overdue) == sorted(
        n for (n,) in rows(db, "SELECT record_id FROM signals WHERE kind = 'results_overdue' AND resolved_at IS NULL"))
    assert overdue and all(r["months_overdue"] >= 12 for r in overdue)
    changes = canned("changes_this_week")
    assert {(r["kind"], r["id"], r["field"]) for r in changes} >= {("trial", served["edited"], "overall_status"),
                                                                  ("publication", served["retracted"], "is_retracted")}
    assert all(r["detected_at"] >= iso(datetime.now(timezone.utc) - timedelta(days=7)) for r in changes)
    retracted = canned("retracted_publications")
    assert [r["pmid"] for r in retracted] == [served["retracted"]]
    links = canned("trials_with_publications")
    assert len(links) == rows(db, "SELECT count(*) FROM (SELECT DISTINCT nct_id, pmid FROM trial_publications tp "
                                  "WHERE EXISTS (SELECT 1 FROM trials WHERE nct_id = tp.nct_id) "
                                  "AND EXISTS (SELECT 1 FROM publications WHERE pmid = tp.pmid))")[0][0]
    assert {(r["nct_id"], r["pmid"], r["found_via"]) for r in links} >= {(served["linked"][0], served["linked"][1], "pubmed_text")}
    page = get(app, "/tracker/recruiting_now").text
    assert "Trials recruiting now" in page and "[&#34;" not in page.split("<table", 1)[1]


def test_nothing_served_can_write_the_database(served):
    before = hashlib.sha256(served["db"].read_bytes()).hexdigest()
    app = served["app"]
    for path in ("/tracker", "/tracker/trials", "/tracker/publications?_facet=journal", "/tracker/results_overdue",
                 "/tracker/trials/" + served["edited"]):
        assert get(app, path).status_code == 200
    refused = get(app, "/tracker.json?sql=DELETE+FROM+trials")
    assert refused.status_code == 400
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        asyncio.run(app.databases["tracker"].execute_write("DELETE FROM trials"))
    assert hashlib.sha256(served["db"].read_bytes()).hexdigest() == before
    assert rows(served["db"], "SELECT count(*) FROM trials")[0][0] > 0


def test_the_served_connections_have_the_page_cache_the_tracker_reads_with(served):
    from tracker.store import CACHE_KIB

    for write in (False, True):
        conn = served["app"].databases["tracker"].connect(write=write)
        try:
            assert conn.execute("PRAGMA cache_size").fetchone()[0] == -CACHE_KIB  # SQLite's default is -2000
        finally:
            conn.close()


def test_serve_on_a_missing_database_says_so_in_one_line_and_creates_nothing(tmp_path):
    missing = tmp_path / "typo.db"
    result = CliRunner().invoke(cli, ["serve", "--db", str(missing)])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: no database at {missing} yet; `tracker update` (or `tracker run`) creates it, or pass --db PATH"
    assert not missing.exists()


def test_serve_on_a_port_in_use_says_so_in_one_line_before_announcing_anything(served):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--port", str(port)], env=served["env"])
    assert result.exit_code == 1 and "Serving" not in result.output
    assert result.output.startswith(f"Error: cannot listen on 127.0.0.1:{port}: ") and result.output.count("\n") == 1


def test_a_trials_page_shows_its_history_links_signals_and_lines(served):
    """Datasette's row page of a trial is no dead end: what `tracker show` says of it, every id a link."""
    edited = served["edited"]
    page = get(served["app"], f"/tracker/trials/{edited}")
    assert page.status_code == 200
    html = page.text
    history = html.split("<h2>History</h2>", 1)[1].split("<h2>", 1)[0]
    [(old, new)] = rows(served["db"], "SELECT old_value, new_value FROM trial_changes WHERE nct_id = ? AND field = 'overall_status'", (edited,))
    assert "overall_status" in history and f"<td>{old}</td><td>{new}</td>" in history
    assert f'href="/tracker/trial_changes?nct_id={edited}"' in history
    lines = html.split("<h2>Topic lines</h2>", 1)[1]
    for (query,) in rows(served["db"], "SELECT query FROM query_matches WHERE record_id = ? AND unmatched_at IS NULL", (edited,)):
        assert f"<li>{query} (since " in lines
    nct, pmid = served["linked"]
    linked = get(served["app"], f"/tracker/trials/{nct}").text.split("<h2>Linked records</h2>", 1)[1].split("<h2>", 1)[0]
    assert f'<a href="/tracker/publications/{pmid}">{pmid}</a>' in linked
    [(record, summary)] = rows(served["db"], "SELECT record_id, summary FROM signals WHERE resolved_at IS NULL AND record_id LIKE 'NCT%' "
                                             "ORDER BY record_id LIMIT 1")
    signals = get(served["app"], f"/tracker/trials/{record}").text.split("<h2>Evidence signals</h2>", 1)[1].split("<h2>", 1)[0]
    assert escape_html(summary) in signals
    assert "<h2>History</h2>" not in get(served["app"], "/tracker/runs/1").text  # only a record's page carries them


def escape_html(text):
    from markupsafe import escape

    return str(escape(text))


def test_canned_queries_take_parameters_and_link_their_ids_and_pages_read_codes_as_people_do(served):
    app, db, edited = served["app"], served["db"], served["edited"]
    history = get(app, f"/tracker/trial_history.json?nct_id={edited.lower()}&_shape=objects").json()["rows"]
    assert [(r["field"], r["old_value"], r["new_value"]) for r in history] == rows(
        db, "SELECT field, old_value, new_value FROM trial_changes WHERE nct_id = ? ORDER BY detected_at, id", (edited,))
    line = get(app, "/tracker/line_records.json?line=stem-line&_shape=objects&_size=max").json()["rows"]
    assert sorted(r["record_id"] for r in line) == sorted(
        n for (n,) in rows(db, "SELECT record_id FROM query_matches WHERE query = 'stem-line' AND unmatched_at IS NULL"))
    form = get(app, "/tracker/line_records").text
    assert 'name="line"' in form  # Datasette asks for the parameter in a form
    page = get(app, "/tracker/line_records?line=stem-line").text
    some = line[0]["record_id"]
    assert f'<a href="/tracker/trials/{some}">{some}</a>' in page  # a canned query's id leads to the record's page
    [(status,)] = rows(db, "SELECT overall_status FROM trials WHERE nct_id = ?", (edited,))
    human = status.replace("_", " ").capitalize()
    table = get(app, f"/tracker/trials?nct_id={edited}").text
    assert f'<span title="{status}">{human}</span>' in table  # the code kept in the tooltip
    assert get(app, f"/tracker/trials.json?nct_id={edited}&_shape=objects").json()["rows"][0]["overall_status"] == status  # JSON keeps codes


def test_column_headers_read_as_labels_with_the_stored_name_kept(served):
    page = get(served["app"], "/tracker/trials").text
    header = page.split("<thead>", 1)[1].split("</thead>", 1)[0]
    assert 'data-column="overall_status"' in header and 'title="overall_status"' in header
    status = header.split('data-column="overall_status"', 1)[1].split("</th>", 1)[0]
    assert 'rel="nofollow">Status</a>' in status  # the label, sortable as before
    assert ">overall_status<" not in header and 'rel="nofollow">NCT number' in header
    rows = get(served["app"], "/tracker/trials.json?_shape=objects&_size=1").json()["rows"]
    assert "overall_status" in rows[0]  # the JSON keeps the stored names
