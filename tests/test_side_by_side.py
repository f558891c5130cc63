"""Services fetched side by side (issue: performance with many sources): each service's lines on a thread of their
own, one writer storing each line whole in the configured order. Shown by behaviour, never by timing: a CT.gov
answer that waits for PubMed's first request is answered only if the two are asked at once; the output and the
stored state are those of the one-after-another run; a dead service leaves the others' lines whole; a record two
lines of a version-comparing source return is fetched once. The services are the local fakes serving REAL
recordings."""

from __future__ import annotations

import threading

from .conftest import invoke_cli, real_studies, rows, write_query
from .test_pubmed import real_articles
from .test_sources_contract import _ctis

FIRST, LATER = "2026-12-04T06:00:00Z", "2026-12-11T06:00:00Z"


def invoke(env, *args, now=FIRST):
    return invoke_cli({**env, "TRACKER_NOW": now}, *args)


def test_a_services_answer_waiting_for_anothers_request_is_answered(env, settings, fake_ctgov, fake_pubmed):
    asked = threading.Event()
    waited: list[bool] = []

    def ctgov_waits_for_pubmed(request):
        waited.append(asked.wait(10))  # one after another, PubMed would be asked only once this returned
        return None

    def pubmed_asked(request):
        asked.set()
        return None

    fake_ctgov.set_studies(real_studies()[:5])
    fake_ctgov.always = ctgov_waits_for_pubmed
    fake_pubmed.articles = real_articles()[:5]
    fake_pubmed.always = pubmed_asked
    write_query(settings.queries_dir, "line", ctgov={"query.cond": "alopecia"}, pubmed="stem cells")
    result = invoke(env, "update", "--source", "ctgov", "--source", "pubmed")
    assert result.exit_code == 0, result.output
    assert waited and all(waited)  # CT.gov's first answer was held until PubMed was asked: the two were fetched at once
    assert result.output.splitlines()[:2] == ["line [ClinicalTrials.gov]: fetched 5, new 5, changed 0",
                                              "line [PubMed]: fetched 5, new 5, changed 0"]  # reported in the configured order


def test_a_dead_service_leaves_the_other_services_lines_whole(env, settings, fake_ctgov, fake_pubmed, monkeypatch):
    from werkzeug import Response

    monkeypatch.setenv("TRACKER_HTTP_RETRIES", "1")
    fake_ctgov.always = lambda request: Response("down", status=503)
    fake_pubmed.articles = real_articles()[:6]
    write_query(settings.queries_dir, "a", ctgov={"query.cond": "alopecia"}, pubmed="stem cells")
    write_query(settings.queries_dir, "b", ctgov={"query.term": "hair"}, pubmed="hair")
    result = invoke(env, "update", "--source", "ctgov", "--source", "pubmed")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any(l.startswith("a [ClinicalTrials.gov]: FAILED") for l in lines), result.output
    assert any(l.startswith("b [ClinicalTrials.gov]: FAILED: not tried: ClinicalTrials.gov could not be reached") for l in lines), result.output
    assert "a [PubMed]: fetched 6, new 6, changed 0" in lines and any(l.startswith("b [PubMed]: fetched") for l in lines)
    assert rows(env["TRACKER_DB"], "SELECT source, status, count(*) FROM runs GROUP BY 1, 2 ORDER BY 1, 2") == [
        ("ctgov", "failed", 2), ("pubmed", "ok", 2)]
    assert rows(env["TRACKER_DB"], "SELECT count(*) FROM publications") == [(6,)]
    assert rows(env["TRACKER_DB"], "SELECT count(*) FROM trials") == [(0,)]


def test_side_by_side_stores_what_one_after_another_stores(tmp_path, settings, fake_ctgov, fake_pubmed, fake_ctis):
    from dataclasses import replace

    from tracker.sources import open_client
    from tracker.store import open_store
    from tracker.topics import load_queries
    from tracker.update import run_update
    from .conftest import NOW

    fake_ctgov.set_studies(real_studies()[:8])
    fake_pubmed.articles = real_articles()[:8]
    _ctis(fake_ctis)
    write_query(settings.queries_dir, "one", ctgov={"query.cond": "alopecia"}, pubmed="stem cells", ctis={"containAll": "trial"})
    write_query(settings.queries_dir, "two", ctgov={"query.term": "hair"}, pubmed="hair")
    stored = {}
    for side_by_side in (False, True):
        db = tmp_path / f"{side_by_side}.db"
        with open_store(db) as store, open_client(replace(settings, db_path=db)) as client:
            lines = run_update(store, client, settings, load_queries(settings.queries_dir), now=NOW, side_by_side=side_by_side)
        stored[side_by_side] = ([line.summary() for line in lines],
                                rows(db, "SELECT nct_id, raw_hash FROM trials ORDER BY 1"), rows(db, "SELECT pmid, raw_hash FROM publications ORDER BY 1"),
                                rows(db, "SELECT trial_id, raw_hash FROM ctis_trials ORDER BY 1"),
                                rows(db, "SELECT source, query, status, fetched, new, cursor FROM runs ORDER BY id"))
    assert stored[True] == stored[False]
    assert len(stored[True][1]) == 8 and len(stored[True][3]) == len(fake_ctis.overviews)


def test_a_ctis_trial_two_lines_return_is_retrieved_once_when_it_changed(env, settings, fake_ctis):
    """The worker alone (no writer stores line one before line two asks what is stored): line two must know what
    line one fetched this run."""
    from datetime import datetime, timezone

    from tracker.fetching import Job, ServiceWorker
    from tracker.sources import SOURCES, open_client
    from tracker.topics import load_queries

    _ctis(fake_ctis)
    write_query(settings.queries_dir, "one", ctis={"containAll": "trial"})
    write_query(settings.queries_dir, "two", ctis={"containAny": "trial"})
    assert invoke(env, "update", "--source", "ctis").exit_code == 0
    changed = fake_ctis.overviews[0]
    changed.update(lastUpdated="01/12/2026")
    fake_ctis.requests.clear()
    jobs = [Job(query=q, cursor="2026-12-04", run_id=0) for q in load_queries(settings.queries_dir)]
    with open_client(settings) as client:
        worker = ServiceWorker(SOURCES["ctis"], jobs, client=client, settings=settings, now=datetime(2026, 12, 11, tzinfo=timezone.utc),
                               db_path=settings.db_path)
        worker.run()
    outcomes = [job.future.result() for job in jobs]
    assert [sorted(o.versions) for o in outcomes] == [[changed["ctNumber"]], []]
    retrieved = [r["path"] for r in fake_ctis.requests if "retrieve" in r["path"]]
    assert retrieved == [f"/ctis/retrieve/{changed['ctNumber']}"]  # line two knew line one had fetched it this run
    for outcome in outcomes:
        outcome.spool.close()
