"""The contract every source in the registry passes (tracker.sources.SOURCES): from its recordings, served by the
local server, it is fetched, parsed and saved; a second update fetches no record again; its records appear in the
digest, search, show and export with their own URL; it survives a 503, a cut-off body and an HTML page in place of
an answer; and every record's identifiers round-trip (stored, and found again by `show`).

A new source is done when it passes: add its recordings to RECORDINGS below (how its fake service is set up)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner
from werkzeug import Response

from tracker.cli import cli
from tracker.identifiers import url_for
from tracker.sources import SOURCES

from .conftest import real_studies, write_query
from .faults import cut_off, status
from .test_pubmed import real_articles


def html_page(request) -> Response:
    """A proxy's or maintenance page where the answer should be."""
    return Response("<!DOCTYPE html><html><body><h1>Service temporarily unavailable</h1></body></html>", content_type="text/html")


@dataclass
class Recordings:
    """How one source's fake service serves its real recordings, and the topic-line table that asks for them."""

    fake: str  # the pytest fixture of its fake service
    load: Callable[[object], int]  # fills the fake; returns how many records it holds
    table: dict  # the line's table for this source
    word: str  # a word found in the recordings' text, for search


def _ctgov(fake) -> int:
    fake.set_studies(real_studies())
    fake.page_size_cap = 10
    return len(fake.studies)


def _pubmed(fake) -> int:
    fake.articles = real_articles()[:40]
    return len(fake.articles)


RECORDINGS = {
    "ctgov": Recordings("fake_ctgov", _ctgov, {"query.cond": "alopecia"}, "study"),
    "pubmed": Recordings("fake_pubmed", _pubmed, {"term": "stem cells"}, "cells"),
}


def test_every_registered_source_has_recordings_for_the_contract():
    assert set(RECORDINGS) == set(SOURCES)


def invoke(env, *args):
    return CliRunner().invoke(cli, list(args), env=env)


def rows(db, sql, *params):
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def write_line(settings, name: str, source: str) -> None:
    """A topic line holding only this source's table."""
    table = RECORDINGS[source].table
    if source == "ctgov":
        write_query(settings.queries_dir, name, ctgov=table)
    elif source == "pubmed":
        write_query(settings.queries_dir, name, pubmed=table["term"])
    else:  # pragma: no cover - a new source writes its own table here
        raise AssertionError(f"no topic-line writer for {source}")


@pytest.fixture(params=list(SOURCES))
def source(request, env, settings):
    name = request.param
    recordings = RECORDINGS[name]
    fake = request.getfixturevalue(recordings.fake)
    held = recordings.load(fake)
    write_line(settings, "contract", name)
    return {"name": name, "source": SOURCES[name], "fake": fake, "held": held, "env": env, "db": env["TRACKER_DB"]}


def test_a_source_is_fetched_parsed_saved_and_updated_without_refetching(source):
    s, env = source["source"], source["env"]
    first = invoke(env, "update", "--source", s.name, "--quiet")
    assert first.exit_code == 0, first.output
    shape = s.shape
    stored = rows(source["db"], f"SELECT {shape.key}, updated_at FROM {shape.table}")
    assert len(stored) == source["held"]
    matched = rows(source["db"], "SELECT count(*) FROM query_matches WHERE source = ? AND query = 'contract'", s.name)
    assert matched == [(source["held"],)]
    before = len(source["fake"].requests)
    again = invoke({**env, "TRACKER_NOW": "2026-12-05T06:00:00Z"}, "update", "--source", s.name)
    assert again.exit_code == 0, again.output
    # the recordings were last changed long before: the window since the first run holds none of them
    assert f"contract [{s.label}]: fetched 0, new 0, changed 0" in again.output
    assert len(source["fake"].requests) > before, "the second update asked nothing"
    assert rows(source["db"], f"SELECT {shape.key}, updated_at FROM {shape.table}") == stored  # nothing rewritten


def test_a_sources_records_appear_in_digest_search_show_and_export_with_their_url(source):
    s, env = source["source"], source["env"]
    assert invoke(env, "update", "--source", s.name, "--quiet").exit_code == 0
    [(record_id,)] = rows(source["db"], f"SELECT {s.shape.key} FROM {s.shape.table} ORDER BY {s.shape.key} LIMIT 1")
    url = url_for(s.scheme, record_id)
    assert url and record_id in url

    digest = invoke({**env, "TRACKER_NOW": "2026-12-05T07:00:00Z"}, "digest", "--format", "md")
    assert digest.exit_code == 0, digest.output
    markdown = "".join(p.read_text(encoding="utf-8") for p in Path(env["TRACKER_REPORTS"]).rglob("*.md"))
    stored = [i for (i,) in rows(source["db"], f"SELECT {s.shape.key} FROM {s.shape.table}")]
    linked = [i for i in stored if f"]({url_for(s.scheme, i)})" in markdown]
    assert linked, f"no {s.label} record is linked to its page in the digest"

    found = invoke(env, "search", RECORDINGS[s.name].word, "--source", s.shape.table, "--limit", "500", "--json")
    assert found.exit_code == 0, found.output
    hits = json.loads(found.output)
    assert hits and all(h["url"] == url_for(s.scheme, h["id"]) for h in hits)

    shown = invoke(env, "show", record_id, "--json")
    assert shown.exit_code == 0, shown.output
    record = json.loads(shown.output)
    assert (record["source"], record["id"], record["kind"]) == (s.name, record_id, s.kind)
    assert {"scheme": s.scheme, "value": record_id, "via": "own", "label": record["identifiers"][0]["label"], "url": url} == record["identifiers"][0]

    exported = invoke(env, "export", s.shape.table, "--format", "json")
    assert exported.exit_code == 0, exported.output
    assert record_id in {r[s.shape.key] for r in json.loads(exported.output)}


@pytest.mark.parametrize("fault", [status(503), cut_off, html_page], ids=["503", "cut-off body", "HTML page"])
def test_a_source_survives_a_fault_in_its_first_answer(source, fault):
    s, env = source["source"], source["env"]
    source["fake"].faults.append(fault)
    result = invoke(env, "update", "--source", s.name, "--quiet")
    assert result.exit_code == 0, result.output
    assert rows(source["db"], f"SELECT count(*) FROM {s.shape.table}") == [(source["held"],)]


def test_every_identifier_a_source_stores_leads_back_to_its_record(source):
    s, env = source["source"], source["env"]
    assert invoke(env, "update", "--source", s.name, "--quiet").exit_code == 0
    ids = rows(source["db"], f"SELECT {s.shape.key} FROM {s.shape.table}")
    own = rows(source["db"], "SELECT record_id, value FROM identifiers WHERE source = ? AND via = 'own'", s.name)
    assert sorted(own) == sorted((i, i) for (i,) in ids)
    carried = rows(source["db"], "SELECT record_id, scheme, value FROM identifiers WHERE source = ? AND via != 'own' AND scheme != 'other'", s.name)
    for record_id, scheme, value in carried:
        shown = invoke(env, "show", value, "--json")
        assert shown.exit_code == 0, (scheme, value, shown.output)
        assert json.loads(shown.output)["id"] == record_id
