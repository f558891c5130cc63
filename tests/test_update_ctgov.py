"""`tracker update --source ctgov` end to end against a local server serving real recorded studies."""

import sqlite3

from click.testing import CliRunner
from werkzeug import Response

from tracker.cli import cli
from tracker.sources import ctgov

from .conftest import load_json, real_studies, write_query

LINE = {"query.cond": "alopecia", "filter.advanced": "AREA[StudyType]INTERVENTIONAL"}


def run(*args, env=None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def rows(db, sql, *params):
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def test_update_stores_every_real_study_with_status_and_title(env, settings, fake_ctgov):
    studies = real_studies()
    fake_ctgov.set_studies(studies)
    fake_ctgov.page_size_cap = 20  # force several pages
    write_query(settings.queries_dir, "line-a", ctgov=LINE)
    result = run("update", "--source", "ctgov", env=env)
    assert result.exit_code == 0, result.output
    assert f"line-a [ClinicalTrials.gov]: fetched {len(studies)}, new {len(studies)}, changed 0" in result.output
    stored = {r["nct_id"]: r for r in rows(env["TRACKER_DB"], "SELECT nct_id, overall_status, title FROM trials")}
    expected = {
        s["protocolSection"]["identificationModule"]["nctId"]: (
            s["protocolSection"].get("statusModule", {}).get("overallStatus"),
            s["protocolSection"]["identificationModule"].get("briefTitle"),
        )
        for s in studies
    }
    assert {k: (v["overall_status"], v["title"]) for k, v in stored.items()} == expected
    assert len(fake_ctgov.requests) == -(-len(studies) // 20)
    matches = rows(env["TRACKER_DB"], "SELECT count(*) AS n FROM query_matches WHERE query = 'line-a' AND source = 'ctgov'")
    assert matches == [{"n": len(studies)}]


def test_update_follows_the_real_two_page_recording(env, settings, fake_ctgov):
    first = load_json("ctgov", "v2", "search", "biomcp_search_phelan_limit5_20260811.json")
    second = load_json("ctgov", "v2", "search", "biomcp_search_phelan_next_20260811.json")
    fake_ctgov.recorded_pages = {None: first, first["nextPageToken"]: second, second["nextPageToken"]: {"studies": []}}
    write_query(settings.queries_dir, "phelan", ctgov={"query.cond": "Phelan-McDermid"})
    result = run("update", "--source", "ctgov", env=env)
    assert result.exit_code == 0, result.output
    ids = [s["protocolSection"]["identificationModule"]["nctId"] for s in first["studies"] + second["studies"]]
    stored = [r["nct_id"] for r in rows(env["TRACKER_DB"], "SELECT nct_id FROM trials ORDER BY nct_id")]
    assert stored == sorted(ids)
    assert [r.get("pageToken") for r in fake_ctgov.requests[:3]] == [None, first["nextPageToken"], second["nextPageToken"]]
    assert all(r["query.cond"] == "Phelan-McDermid" and r["pageSize"] == "1000" for r in fake_ctgov.requests)
    # the recording holds two of the search's pages (its count is 21): the listing names no other, and the gap is said
    assert [r.get("fields") for r in fake_ctgov.requests[3:]] == ["NCTId"] * 3
    assert "the search counted 21 studies and 10 came; 11 not stored (" in result.output


def _ids(studies):
    return [s["protocolSection"]["identificationModule"]["nctId"] for s in studies]


def test_an_empty_page_before_the_count_is_reached_is_followed_not_taken_for_the_end(env, settings, fake_ctgov):
    studies = real_studies()[:6]
    fake_ctgov.recorded_pages = {None: {"studies": studies[:3], "totalCount": 6, "nextPageToken": "t1"},
                                 "t1": {"studies": [], "nextPageToken": "t2"}, "t2": {"studies": studies[3:]}}
    write_query(settings.queries_dir, "line-a", ctgov={"query.cond": "alopecia"})
    result = run("update", "--source", "ctgov", env=env)
    assert result.exit_code == 0, result.output
    assert [r["nct_id"] for r in rows(env["TRACKER_DB"], "SELECT nct_id FROM trials ORDER BY nct_id")] == sorted(_ids(studies))
    assert "line-a [ClinicalTrials.gov]: fetched 6, new 6, changed 0" in result.output and "not stored" not in result.output


def test_pages_that_end_short_of_the_count_are_stored_and_the_shortfall_is_said(env, settings, fake_ctgov):
    studies = real_studies()[:3]
    # the first answer promises 9 studies; then empty pages with ever new tokens, which are followed a bounded number of times
    fake_ctgov.recorded_pages = {None: {"studies": studies, "totalCount": 9, "nextPageToken": "e1"}} | {
        f"e{i}": {"studies": [], "nextPageToken": f"e{i + 1}"} for i in range(1, 50)
    }
    write_query(settings.queries_dir, "line-a", ctgov={"query.cond": "alopecia"})
    result = run("update", "--source", "ctgov", env=env)
    assert result.exit_code == 0, result.output
    # the pages, then the same paging once more for the search's NCT numbers, which name none that did not come
    assert len(fake_ctgov.requests) == 2 * (1 + 1 + ctgov.EMPTY_PAGES)
    assert [r["nct_id"] for r in rows(env["TRACKER_DB"], "SELECT nct_id FROM trials ORDER BY nct_id")] == sorted(_ids(studies))
    assert "ClinicalTrials.gov line line-a: the search counted 9 studies and 3 came; 6 not stored (" in result.output


def test_paging_cut_short_is_made_whole_by_listing_the_search_and_fetching_the_rest_by_number(env, settings, fake_ctgov):
    studies = real_studies()[:25]
    fake_ctgov.set_studies(studies)
    fake_ctgov.page_size_cap = 10
    fake_ctgov.faults.extend([lambda request: None, lambda request: Response('{"studies": []}', content_type="application/json")])
    write_query(settings.queries_dir, "line-a", ctgov={"query.cond": "alopecia"})
    result = run("update", "--source", "ctgov", env=env)
    assert result.exit_code == 0, result.output
    assert [r["nct_id"] for r in rows(env["TRACKER_DB"], "SELECT nct_id FROM trials ORDER BY nct_id")] == sorted(_ids(studies))
    assert "line-a [ClinicalTrials.gov]: fetched 25, new 25, changed 0" in result.output and "not stored" not in result.output
    asked = [("fields" in r, "filter.ids" in r) for r in fake_ctgov.requests]
    assert asked == [(False, False)] * 2 + [(True, False)] * 3 + [(False, True)] * 2  # pages, listing, the 15 by number
    assert sorted(fake_ctgov.requests[-2]["filter.ids"].split(",")) == sorted(_ids(studies[10:]))


def test_when_listing_the_search_fails_the_studies_that_came_are_stored_and_the_failure_said(env, settings, fake_ctgov):
    studies = real_studies()[:25]
    fake_ctgov.set_studies(studies)
    fake_ctgov.page_size_cap = 10
    fake_ctgov.faults.extend([lambda request: None, lambda request: Response('{"studies": []}', content_type="application/json")])
    fake_ctgov.always = lambda request: Response("down", status=503) if "fields" in fake_ctgov.params(request) else None
    write_query(settings.queries_dir, "line-a", ctgov={"query.cond": "alopecia"})
    result = run("update", "--source", "ctgov", env={**env, "TRACKER_HTTP_RETRIES": "1"})
    assert result.exit_code == 0, result.output
    assert [r["nct_id"] for r in rows(env["TRACKER_DB"], "SELECT nct_id FROM trials ORDER BY nct_id")] == sorted(_ids(studies[:10]))
    assert "the search counted 25 studies and 10 came; 15 not stored (asking for the missing ones failed: " in result.output


def test_a_page_token_given_twice_stops_the_line_with_one_line_and_stores_nothing(env, settings, fake_ctgov):
    first = load_json("ctgov", "v2", "search", "biomcp_search_phelan_limit5_20260811.json")
    second = dict(load_json("ctgov", "v2", "search", "biomcp_search_phelan_next_20260811.json"), nextPageToken=first["nextPageToken"])
    fake_ctgov.recorded_pages = {None: first, first["nextPageToken"]: second}  # page 2 points back at itself
    write_query(settings.queries_dir, "phelan", ctgov={"query.cond": "Phelan-McDermid"})
    result = run("update", "--source", "ctgov", env=env)
    assert result.exit_code == 1
    assert "answered the same nextPageToken twice" in result.output.splitlines()[-1] and "Traceback" not in result.output
    assert len(fake_ctgov.requests) == 2
    assert rows(env["TRACKER_DB"], "SELECT count(*) AS n FROM trials") == [{"n": 0}]


def test_paging_that_never_ends_stops_past_the_count_the_service_gave(env, settings, fake_ctgov):
    fake_ctgov.set_studies(real_studies()[:5])
    fake_ctgov.page_size_cap = 1
    fake_ctgov.total_override = 2  # it counts 2 and pages 5 a page at a time: the margin is 1,000 past the count
    write_query(settings.queries_dir, "line-a", ctgov=LINE)
    assert run("update", "--source", "ctgov", env=env).exit_code == 0  # inside the margin: a registry that grew
    fake_ctgov.set_studies([dict(real_studies()[0])] * 1100)  # the same page served 1,100 times under new tokens
    fake_ctgov.total_override = 0
    result = run("update", "--source", "ctgov", "--full", env=env)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "kept paging past 1,000 studies for a search it counted 0" in result.output.splitlines()[-1]


def test_second_run_with_nothing_new_makes_one_request_per_line_carrying_the_date_filter(env, settings, fake_ctgov):
    fake_ctgov.set_studies(real_studies())
    write_query(settings.queries_dir, "line-a", ctgov=LINE)
    write_query(settings.queries_dir, "line-b", ctgov={"query.term": "stem cell"})
    env = {**env, "TRACKER_NOW": "2026-11-24T06:00:00Z"}
    assert run("update", "--source", "ctgov", env=env).exit_code == 0
    fake_ctgov.requests.clear()
    second = run("update", "--source", "ctgov", env={**env, "TRACKER_NOW": "2026-11-25T06:00:00Z"})
    assert second.exit_code == 0, second.output
    assert len(fake_ctgov.requests) == 2
    assert fake_ctgov.requests[0]["filter.advanced"] == "(AREA[StudyType]INTERVENTIONAL) AND AREA[LastUpdatePostDate]RANGE[2026-11-23,MAX]"
    assert fake_ctgov.requests[1]["filter.advanced"] == "AREA[LastUpdatePostDate]RANGE[2026-11-23,MAX]"
    assert "fetched 0, new 0, changed 0" in second.output


def test_status_change_upstream_lands_in_trial_changes_and_first_seen_is_kept(env, settings, fake_ctgov):
    fake_ctgov.set_studies(real_studies())
    write_query(settings.queries_dir, "line-a", ctgov=LINE)
    assert run("update", "--source", "ctgov", env={**env, "TRACKER_NOW": "2026-11-24T06:00:00Z"}).exit_code == 0
    before = rows(env["TRACKER_DB"], "SELECT * FROM trials WHERE nct_id = 'NCT04523987'")[0]
    status = fake_ctgov.study("NCT04523987")["protocolSection"]["statusModule"]
    assert status["overallStatus"] == "RECRUITING"
    status["overallStatus"] = "COMPLETED"
    status["lastUpdatePostDateStruct"] = {"date": "2026-11-24", "type": "ACTUAL"}
    result = run("update", "--source", "ctgov", env={**env, "TRACKER_NOW": "2026-11-25T06:00:00Z"})
    assert result.exit_code == 0, result.output
    assert "fetched 1, new 0, changed 1" in result.output
    changes = rows(env["TRACKER_DB"], "SELECT nct_id, field, old_value, new_value, detected_at FROM trial_changes")
    assert changes == [
        {"nct_id": "NCT04523987", "field": "overall_status", "old_value": "RECRUITING", "new_value": "COMPLETED", "detected_at": "2026-11-25T06:00:00Z"}
    ]
    after = rows(env["TRACKER_DB"], "SELECT * FROM trials WHERE nct_id = 'NCT04523987'")[0]
    assert after["first_seen_at"] == before["first_seen_at"] == "2026-11-24T06:00:00Z"
    assert (after["overall_status"], after["updated_at"]) == ("COMPLETED", "2026-11-25T06:00:00Z")


def test_failure_between_two_pages_keeps_cursor_and_the_next_run_loses_nothing(env, settings, fake_ctgov):
    studies = real_studies()
    fake_ctgov.set_studies(studies)
    fake_ctgov.page_size_cap = 10
    write_query(settings.queries_dir, "line-a", ctgov=LINE)
    env1 = {**env, "TRACKER_NOW": "2026-11-24T06:00:00Z"}

    def fail_after_first_page(request):
        return None if "pageToken" not in request.args else Response("upstream down", status=503)

    fake_ctgov.always = fail_after_first_page
    result = run("update", "--source", "ctgov", env=env1)
    assert result.exit_code != 0
    assert "failed after 4 attempts" in result.output and "HTTP 503" in result.output
    assert rows(env["TRACKER_DB"], "SELECT count(*) AS n FROM trials") == [{"n": 0}]
    runs = rows(env["TRACKER_DB"], "SELECT status, cursor, error FROM runs")
    assert [(r["status"], r["cursor"]) for r in runs] == [("failed", None)]
    fake_ctgov.always = None
    fake_ctgov.requests.clear()
    result = run("update", "--source", "ctgov", env={**env, "TRACKER_NOW": "2026-11-25T06:00:00Z"})
    assert result.exit_code == 0, result.output
    assert "filter.advanced" in fake_ctgov.requests[0] and "LastUpdatePostDate" not in fake_ctgov.requests[0]["filter.advanced"]
    assert rows(env["TRACKER_DB"], "SELECT count(*) AS n FROM trials") == [{"n": len(studies)}]
    assert [r["status"] for r in rows(env["TRACKER_DB"], "SELECT status FROM runs ORDER BY id")] == ["failed", "ok"]


def test_the_collector_is_paused_for_the_whole_line_and_back_on_after_it_even_when_it_fails(env, settings, fake_ctgov):
    import gc

    fake_ctgov.set_studies(real_studies())
    fake_ctgov.page_size_cap = 10
    write_query(settings.queries_dir, "line-a", ctgov=LINE)
    collecting: list[bool] = []

    def note_the_collector(request):
        collecting.append(gc.isenabled())  # the server answers in a thread of this process, while the line waits
        return None

    fake_ctgov.always = note_the_collector
    assert run("update", "--source", "ctgov", env=env).exit_code == 0
    assert len(collecting) > 2 and not any(collecting)  # paused between pages too, not only while one is parsed
    assert gc.isenabled()
    fake_ctgov.always = lambda request: None if "pageToken" not in request.args else Response("upstream down", status=503)
    assert run("update", "--source", "ctgov", "--full", env=env).exit_code != 0
    assert gc.isenabled()


def test_unknown_topic_line_is_one_clear_line(env, settings, fake_ctgov):
    write_query(settings.queries_dir, "line-a", ctgov=LINE)
    result = run("update", "--query", "nope", env=env)
    assert result.exit_code == 1
    assert result.output.strip() == "Error: unknown topic line 'nope' (known: line-a)"


def test_an_update_ends_by_merging_the_text_indexes_a_step(env, settings, fake_ctgov):
    """Each line's write adds segments to the text indexes; the update ends with FTS5's bounded 'merge' (store.writes.
    save_merged_text_indexes), at two segments a level."""
    fake_ctgov.set_studies(real_studies())
    for name in ("line-a", "line-b", "line-c"):
        write_query(settings.queries_dir, name, ctgov={**LINE, "query.term": name})
    assert run("update", "--source", "ctgov", env=env).exit_code == 0
    configured = rows(env["TRACKER_DB"], "SELECT v FROM trials_fts_config WHERE k = 'usermerge'")
    assert configured == [{"v": 2}]
