"""The contract every source in the registry passes (tracker.sources.SOURCES): from its recordings, served by the
local server, it is fetched, parsed and saved; a second update fetches no record again; its records appear in the
digest, search, show and export with their own URL; it survives a 503, a cut-off body and an HTML page in place of
an answer; and every record's identifiers round-trip (stored, and found again by `show`).

A new source is done when it passes: add its recordings to RECORDINGS below (how its fake service is set up)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import pytest
from werkzeug import Response

from tracker.identifiers import url_for
from tracker.sources import SOURCES

from .conftest import (
    ICTRP_EXPORT,
    fixture_path,
    invoke_cli,
    load_json,
    real_ctis_overviews,
    real_europepmc_pages,
    real_europepmc_preprint,
    real_isrctn_trials,
    real_studies,
    rows,
    write_query,
)
from .faults import cut_off, status
from .test_pubmed import real_articles


def html_page(request) -> Response:
    """A proxy's or maintenance page where the answer should be."""
    return Response("<!DOCTYPE html><html><body><h1>Service temporarily unavailable</h1></body></html>", content_type="text/html")


@dataclass
class Recordings:
    """How one source's fake service serves its real recordings, and the topic-line table that asks for them; for a
    source without a service (an export a user downloads), the recorded file it imports."""

    fake: str | None  # the pytest fixture of its fake service (None: the source imports files)
    load: Callable[[object], int]  # fills the fake; returns how many records it holds
    table: dict  # the line's table for this source
    word: str  # a word found in the recordings' text, for search
    file: tuple[str, ...] = ()  # the recorded export an importing source reads


def _ctgov(fake) -> int:
    fake.set_studies(real_studies())
    fake.page_size_cap = 10
    return len(fake.studies)


def _pubmed(fake) -> int:
    fake.articles = real_articles()[:40]
    return len(fake.articles)


def ctis_overview_of(full: dict) -> dict:
    """HAND-MADE: the search overview of the one trial whose full record is recorded (2022-501417-31-00), written
    from that record's own fields as a CTIS search answers them (dd/mm/yyyy dates, a numeric status)."""
    names = full["authorizedApplication"]["authorizedPartI"]["trialDetails"]["clinicalTrialIdentifiers"]
    return {"ctNumber": full["ctNumber"], "ctStatus": full["ctPublicStatusCode"], "ctTitle": names["fullTitle"],
            "shortTitle": names["shortTitle"], "conditions": "High-risk Resected Melanoma", "trialCountries": ["Poland:11"],
            "decisionDateOverall": "02/03/2023", "sponsor": "Merck Sharp & Dohme LLC", "trialPhase": "Therapeutic confirmatory  (Phase III)",
            "ageGroup": "18-64 years, 65+ years", "totalNumberEnrolled": "1296", "resultsFirstReceived": "No",
            "lastUpdated": "17/06/2024", "lastPublicationUpdate": "17/06/2024"}


def _ctis(fake) -> int:
    full = load_json("ctis", "kimmingul-ctreg", "retrieve.json")
    fake.overviews = real_ctis_overviews() + [ctis_overview_of(full)]
    fake.full = {full["ctNumber"]: full}
    return len(fake.overviews)


def _isrctn(fake) -> int:
    fake.trials = real_isrctn_trials()
    fake.edited = {}  # every trial last edited long before the tests' clock
    return len(fake.trials)


def _europepmc(fake) -> int:
    fake.records = real_europepmc_pages()[0]["resultList"]["result"] + [real_europepmc_preprint()]  # 100 + a preprint
    return len(fake.records)


def _ictrp(fake) -> int:
    return 90  # 95 <Trial> records, EUCTR's member-state copies folded: 90 trials


RECORDINGS = {
    "ctgov": Recordings("fake_ctgov", _ctgov, {"query.cond": "alopecia"}, "study"),
    "ctis": Recordings("fake_ctis", _ctis, {"containAll": "trial"}, "trial"),
    "isrctn": Recordings("fake_isrctn", _isrctn, {"q": "cancer OR colonoscopy"}, "cancer"),
    "ictrp": Recordings(None, _ictrp, {}, "amyloidosis", file=ICTRP_EXPORT),
    "pubmed": Recordings("fake_pubmed", _pubmed, {"term": "stem cells"}, "cells"),
    "europepmc": Recordings("fake_europepmc", _europepmc, {"query": "cancer"}, "cancer"),
}


def test_every_registered_source_has_recordings_for_the_contract():
    assert set(RECORDINGS) == set(SOURCES)


invoke = invoke_cli


def write_line(settings, name: str, source: str) -> None:
    """A topic line holding only this source's table (an importing source's line asks CT.gov, as any line must ask a service)."""
    table = RECORDINGS[source].table
    if source == "pubmed":
        write_query(settings.queries_dir, name, pubmed=table["term"])
    elif RECORDINGS[source].fake is None:
        write_query(settings.queries_dir, name, ctgov={"query.cond": "alopecia"})
    else:
        write_query(settings.queries_dir, name, **{source: table})


def bring(source, env=None):
    """The source's records into the store: an update of its lines, or an import of its recorded file."""
    env = env or source["env"]
    recordings = RECORDINGS[source["name"]]
    if recordings.fake is None:
        return invoke(env, "import", source["name"], str(fixture_path(*recordings.file)), "--line", "contract")
    return invoke(env, "update", "--source", source["name"], "--quiet")


@pytest.fixture(params=list(SOURCES))
def source(request, env, settings):
    name = request.param
    recordings = RECORDINGS[name]
    fake = request.getfixturevalue(recordings.fake) if recordings.fake else None
    held = recordings.load(fake)
    write_line(settings, "contract", name)
    return {"name": name, "source": SOURCES[name], "fake": fake, "held": held, "env": env, "db": env["TRACKER_DB"]}


def test_a_source_is_fetched_parsed_saved_and_updated_without_refetching(source):
    s, env = source["source"], source["env"]
    first = bring(source)
    assert first.exit_code == 0, first.output
    shape = s.shape
    stored = rows(source["db"], f"SELECT {shape.key}, updated_at FROM {shape.table}")
    assert len(stored) == source["held"]
    matched = rows(source["db"], "SELECT count(*) FROM query_matches WHERE source = ? AND query = 'contract'", s.name)
    assert matched == [(source["held"],)]
    if source["fake"] is None:  # the same export imported again changes nothing
        again = bring(source, {**env, "TRACKER_NOW": "2026-12-05T06:00:00Z"})
        assert again.exit_code == 0, again.output
        assert f"new 0, changed 0, unchanged {source['held']}" in again.output
        assert rows(source["db"], f"SELECT {shape.key}, updated_at FROM {shape.table}") == stored
        return
    before = len(source["fake"].requests)
    again = invoke({**env, "TRACKER_NOW": "2026-12-05T06:00:00Z"}, "update", "--source", s.name)
    assert again.exit_code == 0, again.output
    # the recordings were last changed long before: the window since the first run holds none of them
    assert f"contract [{s.label}]: fetched 0, new 0, changed 0" in again.output
    assert len(source["fake"].requests) > before, "the second update asked nothing"
    assert rows(source["db"], f"SELECT {shape.key}, updated_at FROM {shape.table}") == stored  # nothing rewritten


def test_a_sources_records_appear_in_digest_search_show_and_export_with_their_url(source):
    s, env = source["source"], source["env"]
    assert bring(source).exit_code == 0
    [(record_id,)] = rows(source["db"], f"SELECT {s.shape.key} FROM {s.shape.table} ORDER BY {s.shape.key} LIMIT 1")
    url = s.url(record_id)
    # the page names the record by its id, or by the number under its prefix (ICTRP's JPRN-, Europe PMC's MED:)
    assert url.startswith("https://") and any(part in url for part in (record_id, record_id.split("-", 1)[-1], record_id.split(":", 1)[-1]))

    # the records were brought at the clock's time: the digest's window ends an hour after it, whatever today is
    later = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = invoke({**env, "TRACKER_NOW": later}, "digest", "--format", "md")
    assert digest.exit_code == 0, digest.output
    markdown = "".join(p.read_text(encoding="utf-8") for p in Path(env["TRACKER_REPORTS"]).rglob("*.md"))
    stored = [i for (i,) in rows(source["db"], f"SELECT {s.shape.key} FROM {s.shape.table}")]
    linked = [i for i in stored if f"]({s.url(i)})" in markdown]
    assert linked, f"no {s.label} record is linked to its page in the digest"

    found = invoke(env, "search", RECORDINGS[s.name].word, "--source", s.shape.table, "--limit", "500", "--json")
    assert found.exit_code == 0, found.output
    hits = json.loads(found.output)
    # a record of one study with another registration is shown under the study's preferred record, with its URL
    assert hits and all(h["url"] == SOURCES[h["source"]].url(h["id"]) for h in hits)

    shown = invoke(env, "show", record_id, "--json")
    assert shown.exit_code == 0, shown.output
    record = json.loads(shown.output)
    members = {(record["source"], record["id"])} | {(m["source"], m["id"]) for m in record["same"]}
    assert (s.name, record_id) in members and record["kind"] == s.kind
    if (record["source"], record["id"]) == (s.name, record_id):
        own = record["identifiers"][0]
        assert (own["via"], own["url"]) == ("own", url_for(own["scheme"], own["value"])) and own["value"] in record_id

    exported = invoke(env, "export", s.shape.table, "--format", "json")
    assert exported.exit_code == 0, exported.output
    assert record_id in {r[s.shape.key] for r in json.loads(exported.output)}


@pytest.mark.parametrize("fault", [status(503), cut_off, html_page], ids=["503", "cut-off body", "HTML page"])
def test_a_source_survives_a_fault_in_its_first_answer(source, fault):
    s, env = source["source"], source["env"]
    if source["fake"] is None:
        pytest.skip("an importing source asks no service (tests/test_registries.py feeds it broken files)")
    source["fake"].faults.append(fault)
    result = invoke(env, "update", "--source", s.name, "--quiet")
    assert result.exit_code == 0, result.output
    assert rows(source["db"], f"SELECT count(*) FROM {s.shape.table}") == [(source["held"],)]


def test_every_identifier_a_source_stores_leads_back_to_its_record(source):
    s, env = source["source"], source["env"]
    assert bring(source).exit_code == 0
    ids = rows(source["db"], f"SELECT {s.shape.key} FROM {s.shape.table}")
    own = rows(source["db"], "SELECT record_id, scheme, value FROM identifiers WHERE source = ? AND via = 'own'", s.name)
    assert sorted(r for r, _, _ in own) == sorted(i for (i,) in ids)
    assert all(value in record_id or record_id.endswith(value) for record_id, _, value in own)  # its own id, in its normal form
    carried = rows(source["db"], "SELECT record_id, scheme, value FROM identifiers WHERE source = ? AND via != 'own' AND scheme != 'other'", s.name)
    for record_id, scheme, value in carried[:40]:
        shown = invoke(env, "show", value, "--json")
        assert shown.exit_code == 0, (scheme, value, shown.output)
        study = json.loads(shown.output)
        # the id leads to the record, or to the study it is one registration of
        assert record_id in {study["id"], *(m["id"] for m in study["same"])}, (scheme, value)
